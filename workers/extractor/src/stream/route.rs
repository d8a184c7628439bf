//! Which queries a streamed post belongs to, and the recent-id set that drops redeliveries.
//!
//! A post names the rules it matched (`matching_rules`): by tag when the rule is ours, and by
//! id in any case. Routing by tag is what the operator's tag scheme is for; routing by id also
//! covers a query whose value was already held by another rule (X keeps one rule per value, so
//! that rule's id is the one that matches).

use std::collections::{BTreeSet, HashMap, HashSet, VecDeque};

use crate::xapi::MatchingRule;

/// Rule tags and ids to query indexes (of one connection's queries).
#[derive(Debug, Clone, Default)]
pub struct Router {
    by_tag: HashMap<String, usize>,
    by_id: HashMap<String, Vec<usize>>,
}

impl Router {
    pub fn new(tags: impl IntoIterator<Item = (String, usize)>) -> Self {
        Router {
            by_tag: tags.into_iter().collect(),
            by_id: HashMap::new(),
        }
    }

    /// The rule with `id` serves `query` (learnt from the rules endpoint).
    pub fn add_rule_id(&mut self, id: &str, query: usize) {
        let queries = self.by_id.entry(id.to_string()).or_default();
        if !queries.contains(&query) {
            queries.push(query);
        }
    }

    /// Every query a post matching `rules` belongs to; empty for rules that are not ours.
    pub fn route(&self, rules: &[MatchingRule]) -> BTreeSet<usize> {
        let mut queries = BTreeSet::new();
        for rule in rules {
            if let Some(q) = rule.tag.as_ref().and_then(|t| self.by_tag.get(t)) {
                queries.insert(*q);
            }
            if let Some(qs) = self.by_id.get(&rule.id) {
                queries.extend(qs.iter().copied());
            }
        }
        queries
    }
}

/// The last `capacity` post ids written for a query: a backfill or a recovery search that
/// delivers one again is dropped before Kafka. Bounded, so memory stays flat; an id older than
/// that reaches Kafka twice and the transformer's upsert absorbs it.
#[derive(Debug, Clone)]
pub struct RecentIds {
    capacity: usize,
    order: VecDeque<String>,
    set: HashSet<String>,
}

impl RecentIds {
    pub fn new(capacity: usize) -> Self {
        RecentIds {
            capacity: capacity.max(1),
            order: VecDeque::new(),
            set: HashSet::new(),
        }
    }

    pub fn contains(&self, id: &str) -> bool {
        self.set.contains(id)
    }

    /// Remembers `id` (written now), forgetting the oldest beyond the capacity.
    pub fn insert(&mut self, id: &str) {
        if !self.set.insert(id.to_string()) {
            return;
        }
        self.order.push_back(id.to_string());
        while self.order.len() > self.capacity {
            if let Some(old) = self.order.pop_front() {
                self.set.remove(&old);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(id: &str, tag: Option<&str>) -> MatchingRule {
        MatchingRule {
            id: id.into(),
            tag: tag.map(str::to_string),
        }
    }

    #[test]
    fn routes_by_tag_and_by_id() {
        let mut router = Router::new([("t:a".to_string(), 0), ("t:b".to_string(), 1)]);
        router.add_rule_id("9", 2);
        let table: Vec<(Vec<MatchingRule>, Vec<usize>)> = vec![
            (vec![rule("1", Some("t:a"))], vec![0]),
            (
                vec![rule("1", Some("t:a")), rule("2", Some("t:b"))],
                vec![0, 1],
            ),
            (vec![rule("9", Some("someone-else"))], vec![2]),
            (vec![rule("9", None), rule("2", Some("t:b"))], vec![1, 2]),
            (vec![rule("5", Some("someone-else"))], vec![]),
            (vec![], vec![]),
        ];
        for (rules, expected) in table {
            assert_eq!(
                router.route(&rules).into_iter().collect::<Vec<_>>(),
                expected,
                "{rules:?}"
            );
        }
    }

    #[test]
    fn recent_ids_are_bounded() {
        let mut ids = RecentIds::new(2);
        ids.insert("1");
        ids.insert("2");
        ids.insert("2");
        assert!(ids.contains("1") && ids.contains("2"));
        ids.insert("3");
        assert!(!ids.contains("1"));
        assert!(ids.contains("2") && ids.contains("3"));
    }
}
