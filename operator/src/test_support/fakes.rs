//! Scripted stand-ins for the systems a reconcile talks to besides the API server: a schema owner
//! and a topic admin (the dependencies step's), a progress reader (the observe step's), each
//! recording every call and answering as a test says. Used by the dependencies step's tests
//! (`reconcile::dependencies::tests`) and the reconcile's (`reconcile::tests`).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::future::BoxFuture;
use rdkafka::config::ClientConfig;
use sqlx::mysql::MySqlPool;
use tweetpipe_schema::{Claim, Owner, Release, Role};

use crate::crd::KafkaSpec;
use crate::decide::plan::Checkpoint;
use crate::decide::topic_owner::TopicOwner;
use crate::reconcile::clients::{Clients, KafkaClients};
use crate::reconcile::dependencies::kafka::{KafkaCheckError, TopicsReport};
use crate::reconcile::dependencies::mysql::{
    AccountError, ClaimError, DesiredAccount, SchemaOwner,
};
use crate::reconcile::dependencies::topic_admin::TopicAdmin;
use crate::reconcile::observe::progress::{ProgressCache, ProgressError, ReadEnd};
use crate::reconcile::observe::progress_reader::ProgressReader;
use crate::reconcile::observe::secrets::{Resolved, SecretString};

/// The calls a fake received, in order.
#[derive(Default)]
pub struct CallLog(Mutex<Vec<&'static str>>);

impl CallLog {
    fn record(&self, call: &'static str) {
        self.0.lock().expect("calls").push(call);
    }

    /// The calls since the last look.
    pub fn take(&self) -> Vec<&'static str> {
        std::mem::take(&mut *self.0.lock().expect("calls"))
    }
}

/// What the scripted owner answers.
#[derive(Clone, Copy)]
pub enum Answer {
    Ok,
    /// `claim_database`: another pipeline's (the ledger names it).
    Owned,
    /// `claim_database`: tables tweetpipe did not make.
    Foreign,
    /// `ensure_account`: an account tweetpipe did not make.
    Refused,
    /// Any call: the server failed.
    Failed,
}

/// A schema owner that records every call and answers as scripted.
pub struct ScriptedSchema {
    pub connect: Answer,
    pub claim: Answer,
    pub migrate: Answer,
    pub account: Answer,
    /// What `is_current` says.
    /// What `is_current` says (`None`: it fails).
    pub current: Option<bool>,
    /// `release_database`.
    pub release: Answer,
    pub log: CallLog,
}

impl ScriptedSchema {
    pub fn healthy() -> Self {
        ScriptedSchema {
            connect: Answer::Ok,
            claim: Answer::Ok,
            migrate: Answer::Ok,
            account: Answer::Ok,
            current: Some(true),
            release: Answer::Ok,
            log: CallLog::default(),
        }
    }

    /// For paths that must never reach MySQL: every call fails (and is recorded).
    pub fn unreachable() -> Self {
        ScriptedSchema {
            connect: Answer::Failed,
            claim: Answer::Failed,
            migrate: Answer::Failed,
            account: Answer::Failed,
            current: None,
            release: Answer::Failed,
            log: CallLog::default(),
        }
    }

    /// The calls since the last look, in order.
    pub fn calls(&self) -> Vec<&'static str> {
        self.log.take()
    }
}

impl SchemaOwner for ScriptedSchema {
    fn connect<'a>(&'a self, _: &'a MySqlPool) -> BoxFuture<'a, Result<(), sqlx::Error>> {
        self.log.record("connect");
        let answer = self.connect;
        Box::pin(async move {
            match answer {
                Answer::Ok => Ok(()),
                _ => Err(sqlx::Error::PoolTimedOut),
            }
        })
    }
    fn migrate<'a>(&'a self, _: &'a MySqlPool) -> BoxFuture<'a, Result<(), String>> {
        self.log.record("migrate");
        let answer = self.migrate;
        Box::pin(async move {
            match answer {
                Answer::Ok => Ok(()),
                _ => Err("migration 20261122000001 failed: table exists".into()),
            }
        })
    }
    fn is_current<'a>(
        &'a self,
        _: &'a MySqlPool,
        _: &'a str,
    ) -> BoxFuture<'a, Result<bool, String>> {
        self.log.record("is_current");
        let current = self.current;
        Box::pin(async move { current.ok_or_else(|| "MySQL is unreachable".to_string()) })
    }
    fn ensure_account<'a>(
        &'a self,
        _: &'a MySqlPool,
        _: &'a str,
        _: &'a DesiredAccount,
    ) -> BoxFuture<'a, Result<(), AccountError>> {
        self.log.record("ensure_account");
        let answer = self.account;
        Box::pin(async move {
            match answer {
                Answer::Ok => Ok(()),
                Answer::Refused => Err(AccountError::Refused(
                    "account r_covid exists and was not made by tweetpipe".into(),
                )),
                _ => Err(AccountError::Failed("server went away".into())),
            }
        })
    }
    fn claim_database<'a>(
        &'a self,
        _: &'a MySqlPool,
        _: &'a str,
        _: Owner<'a>,
    ) -> BoxFuture<'a, Result<Claim, ClaimError>> {
        self.log.record("claim_database");
        let answer = self.claim;
        Box::pin(async move {
            match answer {
                Answer::Ok => Ok(Claim::Owned),
                Answer::Owned => Err(ClaimError::Owned("recorded for tweets/other".into())),
                Answer::Foreign => Err(ClaimError::Foreign("it holds table orders".into())),
                _ => Err(ClaimError::Failed("server went away".into())),
            }
        })
    }
    fn release_database<'a>(
        &'a self,
        _: &'a MySqlPool,
        _: &'a str,
        _: Owner<'a>,
    ) -> BoxFuture<'a, Result<Release, String>> {
        self.log.record("release_database");
        let answer = self.release;
        Box::pin(async move {
            match answer {
                Answer::Ok => Ok(Release::Absent),
                _ => Err("MySQL is unreachable".to_string()),
            }
        })
    }
}

/// Secrets as resolved from the watch cache; the admin URL points where nothing listens.
pub fn secrets() -> Resolved {
    Resolved {
        // Nothing listens there: the fake owner never uses the (lazy) pools.
        mysql_admin_url: SecretString::new("mysql://root:s3cret@127.0.0.1:1/mysql".into()),
        reporting_password: None,
        kafka_sasl: None,
        kafka_ca_pem: None,
        kafka_client_pem: None,
        mysql_ca_pem: None,
    }
}

/// The writer account with `password`.
pub fn account(password: &str) -> DesiredAccount {
    DesiredAccount {
        user: "w_covid".into(),
        password: SecretString::new(password.into()),
        role: Role::Writer,
        require_tls: false,
    }
}

/// What the scripted topic admin's `ensure_topics` does.
#[derive(Clone)]
pub enum TopicsAnswer {
    /// The topics are in shape; these were created (by the first call: later calls find them in
    /// place, as a broker would).
    Created(Vec<String>),
    /// Another pipeline's record is on them.
    Owned,
    /// Never answers (a broker that accepts the connection and says nothing).
    Hang,
}

/// A topic admin that records every call and answers as scripted. Its clients are real but
/// never connect: they point where nothing listens.
pub struct ScriptedTopics {
    pub ensure: TopicsAnswer,
    pub log: CallLog,
    /// Whether `ensure_topics` answered before (what it created is then in place).
    ensured: AtomicBool,
}

impl ScriptedTopics {
    pub fn new(ensure: TopicsAnswer) -> Arc<Self> {
        Arc::new(ScriptedTopics {
            ensure,
            log: CallLog::default(),
            ensured: AtomicBool::new(false),
        })
    }

    /// The calls since the last look, in order.
    pub fn calls(&self) -> Vec<&'static str> {
        self.log.take()
    }
}

impl TopicAdmin for ScriptedTopics {
    fn clients(
        &self,
        _: &Clients,
        _: &KafkaSpec,
        _: &Resolved,
        _: Duration,
    ) -> Result<Arc<KafkaClients>, KafkaCheckError> {
        self.log.record("clients");
        let mut config = ClientConfig::new();
        config.set("bootstrap.servers", "127.0.0.1:1");
        KafkaClients::new(&config)
            .map(Arc::new)
            .map_err(|e| KafkaCheckError::Join(e.to_string()))
    }

    fn ensure_topics<'a>(
        &'a self,
        _: &'a Arc<KafkaClients>,
        kafka: &'a KafkaSpec,
        _: usize,
        _: &'a TopicOwner,
        _: Duration,
    ) -> BoxFuture<'a, Result<TopicsReport, KafkaCheckError>> {
        self.log.record("ensure_topics");
        let answer = match &self.ensure {
            TopicsAnswer::Created(_) if self.ensured.swap(true, Ordering::SeqCst) => {
                TopicsAnswer::Created(Vec::new())
            }
            answer => answer.clone(),
        };
        Box::pin(async move {
            match answer {
                TopicsAnswer::Created(created) => Ok(TopicsReport {
                    partitions: kafka.partitions,
                    created,
                    grown: Vec::new(),
                    corrected: Vec::new(),
                }),
                TopicsAnswer::Owned => Err(KafkaCheckError::OwnedByAnother {
                    topic: kafka.topic.clone(),
                    owner: TopicOwner {
                        namespace: "tweets".into(),
                        name: "other".into(),
                        uid: "u-other".into(),
                    },
                }),
                TopicsAnswer::Hang => std::future::pending().await,
            }
        })
    }

    fn diagnose(
        &self,
        _: &KafkaSpec,
        _: &Resolved,
        _: Duration,
        failure: KafkaCheckError,
    ) -> KafkaCheckError {
        self.log.record("diagnose");
        KafkaCheckError::Topic {
            topic: "-".into(),
            detail: format!(
                "diagnosed: the broker's certificate is not trusted (after: {failure})"
            ),
        }
    }
}

/// A progress reader that records every call and answers as scripted; `None` is a failed read
/// (the observe step then keeps the last known progress, and the lag is unknown).
pub struct ScriptedProgress {
    /// What `read_checkpoints` answers.
    pub checkpoints: Option<Vec<Checkpoint>>,
    /// What `consumer_lag` answers.
    pub lag: Option<i64>,
    pub log: CallLog,
}

impl ScriptedProgress {
    pub fn new(checkpoints: Option<Vec<Checkpoint>>, lag: Option<i64>) -> Arc<Self> {
        Arc::new(ScriptedProgress {
            checkpoints,
            lag,
            log: CallLog::default(),
        })
    }

    /// The calls since the last look, in order.
    pub fn calls(&self) -> Vec<&'static str> {
        self.log.take()
    }
}

/// A Kafka read that failed, as the real reader reports it.
fn read_failed(what: &'static str) -> ProgressError {
    ProgressError::Kafka {
        what,
        detail: "scripted: the broker went away".into(),
    }
}

impl ProgressReader for ScriptedProgress {
    fn read_checkpoints<'a>(
        &'a self,
        _: &'a Arc<KafkaClients>,
        _: &'a Arc<ProgressCache>,
        _: &'a str,
        _: &'a str,
        _: Duration,
    ) -> BoxFuture<'a, Result<(Vec<Checkpoint>, ReadEnd), ProgressError>> {
        self.log.record("read_checkpoints");
        let answer = self.checkpoints.clone();
        Box::pin(async move {
            answer
                .map(|c| (c, ReadEnd::EndOfPartition))
                .ok_or_else(|| read_failed("checkpoints"))
        })
    }

    fn consumer_lag<'a>(
        &'a self,
        _: &'a Arc<KafkaClients>,
        _: &'a str,
        _: &'a str,
        _: i32,
        _: Duration,
    ) -> BoxFuture<'a, Result<i64, ProgressError>> {
        self.log.record("consumer_lag");
        let answer = self.lag;
        Box::pin(async move { answer.ok_or_else(|| read_failed("group offsets")) })
    }
}
