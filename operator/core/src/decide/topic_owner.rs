//! Which pipeline a set of topics belongs to. Kafka has no compare-and-set and refuses unknown
//! topic configs, so ownership is a record: the operator appends `{namespace, name, uid}` under
//! the key [`OWNER_KEY`] to partition 0 of `<topic>.slots` (a topic no one else writes to; its
//! retention is infinite), and everyone reads that partition from its start. The log's order
//! settles races: the **first** record is the owner. A later record counts only when written for
//! the same namespace and name (the pipeline was deleted with `Retain` and created again, so it has
//! a new uid); the records of other pipelines after the first are claims that lost.
//!
//! What may be claimed without a record (see [`judge`]): topics this pass created, and topics
//! whose `<topic>.slots` exists without a record (tweetpipe made them before ownership records,
//! or its operator stopped between creating and recording). A posts topic with records but no
//! `<topic>.slots` was not made by tweetpipe and is refused.

use serde::{Deserialize, Serialize};

/// Key of an ownership record in `<topic>.slots`.
pub const OWNER_KEY: &[u8] = b"tweetpipe.io/owner";

/// A pipeline as an ownership record names it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TopicOwner {
    pub namespace: String,
    pub name: String,
    pub uid: String,
}

impl TopicOwner {
    /// The pipeline as its topics' ownership record names it.
    pub fn of(tp: &crate::crd::TweetPipeline) -> Self {
        TopicOwner {
            namespace: tp.metadata.namespace.clone().unwrap_or_default(),
            name: tp.metadata.name.clone().unwrap_or_default(),
            uid: tp.metadata.uid.clone().unwrap_or_default(),
        }
    }

    /// The record's value.
    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// A record's value, `None` when it is not an ownership record.
    pub fn from_json(value: &[u8]) -> Option<Self> {
        serde_json::from_slice(value).ok()
    }

    fn same_pipeline(&self, other: &TopicOwner) -> bool {
        self.namespace == other.namespace && self.name == other.name
    }
}

impl std::fmt::Display for TopicOwner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{} (uid {})", self.namespace, self.name, self.uid)
    }
}

/// The owner the records name, in log order (see the module).
pub fn owner_of(records: impl IntoIterator<Item = TopicOwner>) -> Option<TopicOwner> {
    records.into_iter().fold(None, |owner, record| match owner {
        None => Some(record),
        Some(owner) if owner.same_pipeline(&record) => Some(record),
        kept => kept,
    })
}

/// What to do about the topics, given their recorded owner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Recorded as this pipeline's.
    Owned,
    /// No record: append this pipeline's, then read again (another claim may have come first).
    Claim,
    /// Recorded for this namespace and name under an older uid: append the new uid.
    Reclaim,
    /// Another pipeline's: touch nothing.
    OwnedBy(TopicOwner),
}

/// The verdict for `me` on topics whose records name `recorded`.
pub fn judge(recorded: Option<&TopicOwner>, me: &TopicOwner) -> Verdict {
    match recorded {
        None => Verdict::Claim,
        Some(owner) if owner == me => Verdict::Owned,
        Some(owner) if owner.same_pipeline(me) => Verdict::Reclaim,
        Some(owner) => Verdict::OwnedBy(owner.clone()),
    }
}

/// What deletion (`deletionPolicy: Delete`) does with the topics.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Release {
    /// Recorded as this pipeline's: delete them.
    Delete,
    /// None of them exists.
    Absent,
    /// Leave them, for this reason (another's, or never recorded as this one's).
    LeaveAlone(String),
}

/// Whether deleting `me` deletes its topics: only when recorded with its very uid (an older
/// incarnation's topics that this one never reconciled are not its to delete).
pub fn release(
    topic: &str,
    any_exists: bool,
    slots_exists: bool,
    recorded: Option<&TopicOwner>,
    me: &TopicOwner,
) -> Release {
    if !any_exists {
        return Release::Absent;
    }
    if !slots_exists {
        return Release::LeaveAlone(format!(
            "topic {topic} has no {topic}.slots, so tweetpipe did not make it; left as it is"
        ));
    }
    match recorded {
        Some(owner) if owner == me => Release::Delete,
        Some(owner) => Release::LeaveAlone(format!(
            "topic {topic} belongs to pipeline {owner}; left as it is"
        )),
        None => Release::LeaveAlone(format!(
            "topic {topic} carries no ownership record of this pipeline; left as it is"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn owner(namespace: &str, name: &str, uid: &str) -> TopicOwner {
        TopicOwner {
            namespace: namespace.into(),
            name: name.into(),
            uid: uid.into(),
        }
    }

    #[test]
    fn the_first_record_owns_and_later_claims_of_others_lose() {
        let a = owner("team-a", "p", "1");
        let b = owner("team-b", "p", "2");
        let a_again = owner("team-a", "p", "3");
        let table: [(&str, Vec<TopicOwner>, Option<TopicOwner>); 5] = [
            ("no record", vec![], None),
            ("one claim", vec![a.clone()], Some(a.clone())),
            (
                "a race: the first wins",
                vec![a.clone(), b.clone()],
                Some(a.clone()),
            ),
            (
                "the same pipeline re-created takes its topics back",
                vec![a.clone(), b.clone(), a_again.clone()],
                Some(a_again.clone()),
            ),
            (
                "the loser's later claim changes nothing",
                vec![b.clone(), a.clone(), b.clone()],
                Some(b.clone()),
            ),
        ];
        for (case, records, expected) in table {
            assert_eq!(owner_of(records), expected, "{case}");
        }
    }

    #[test]
    fn verdicts() {
        let me = owner("team-a", "p", "1");
        let table = [
            ("unrecorded", None, Verdict::Claim),
            ("mine", Some(me.clone()), Verdict::Owned),
            (
                "mine under an older uid",
                Some(owner("team-a", "p", "0")),
                Verdict::Reclaim,
            ),
            (
                "same name, another namespace",
                Some(owner("team-b", "p", "1")),
                Verdict::OwnedBy(owner("team-b", "p", "1")),
            ),
        ];
        for (case, recorded, expected) in table {
            assert_eq!(judge(recorded.as_ref(), &me), expected, "{case}");
        }
    }

    #[test]
    fn deletion_deletes_only_topics_recorded_with_this_uid() {
        let me = owner("team-a", "p", "1");
        let other = owner("team-b", "q", "2");
        let older = owner("team-a", "p", "0");
        assert_eq!(release("t", false, false, None, &me), Release::Absent);
        assert_eq!(release("t", true, true, Some(&me), &me), Release::Delete);
        for (case, slots, recorded) in [
            ("not made by tweetpipe", false, None),
            ("another pipeline's", true, Some(&other)),
            ("an older incarnation's", true, Some(&older)),
            ("never recorded", true, None),
        ] {
            assert!(
                matches!(release("t", true, slots, recorded, &me), Release::LeaveAlone(why) if why.contains("topic t")),
                "{case}"
            );
        }
        let Release::LeaveAlone(why) = release("t", true, true, Some(&other), &me) else {
            panic!("another's topics are left alone");
        };
        assert!(why.contains("team-b/q"), "names the owner: {why}");
    }

    #[test]
    fn records_round_trip_and_foreign_values_are_not_records() {
        let me = owner("team-a", "p", "1");
        assert_eq!(TopicOwner::from_json(&me.to_json()), Some(me));
        assert_eq!(TopicOwner::from_json(b"not json"), None);
        assert_eq!(TopicOwner::from_json(b"{}"), None);
    }
}
