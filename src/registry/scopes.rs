//! The repositories a run will touch on one registry, in groups that one token covers: a
//! token server asked for several `scope`s at once answers with one token for all of them, so
//! twenty images need one token request a side, not twenty (each a round trip before the
//! image's first request). Groups are bounded ([`GROUP`]) to keep the token request's URL
//! short. A repository whose group token was refused (a 401 with it) is asked for on its own
//! from then on.

use crate::registry::auth::Scope;
use std::collections::{HashMap, HashSet};

/// Repositories one token covers at most.
pub const GROUP: usize = 16;

/// Repositories grouped for tokens, for one registry in one role.
#[derive(Debug, Default)]
pub struct ScopeGroups {
    group_of: HashMap<String, usize>,
    groups: Vec<Vec<String>>,
    /// Repositories taken out of their group: their token is asked for alone.
    alone: HashSet<String>,
}

impl ScopeGroups {
    /// `repo` will be used in this run.
    pub fn expect(&mut self, repo: &str) {
        if self.group_of.contains_key(repo) {
            return;
        }
        if self.groups.last().is_none_or(|g| g.len() >= GROUP) {
            self.groups.push(Vec::new());
        }
        let i = self.groups.len() - 1;
        self.groups[i].push(repo.to_string());
        self.group_of.insert(repo.to_string(), i);
    }

    /// The scopes to ask a token for, instead of `scopes`, when one group covers them all:
    /// every repository of the group with `scope_for`'s actions (the role's), which must hold
    /// the actions asked for. `None`: ask for `scopes` themselves.
    pub fn widen(&self, scopes: &[Scope], scope_for: impl Fn(&str) -> Scope) -> Option<Vec<Scope>> {
        let mut group = None;
        for s in scopes {
            let g = *self.group_of.get(&s.name)?;
            let full = scope_for(&s.name);
            let covered = s.kind == full.kind && s.actions.iter().all(|a| full.actions.contains(a));
            if !covered || self.alone.contains(&s.name) || group.is_some_and(|x| x != g) {
                return None;
            }
            group = Some(g);
        }
        let members: Vec<Scope> = self.groups[group?]
            .iter()
            .filter(|r| !self.alone.contains(*r))
            .map(|r| scope_for(r))
            .collect();
        (members.len() > 1).then_some(members)
    }

    /// The group token did not do for these: ask for theirs alone from now on.
    pub fn take_out(&mut self, scopes: &[Scope]) {
        for s in scopes {
            self.alone.insert(s.name.clone());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(v: &[Scope]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn one_group_covers_its_repositories_with_the_role_actions() {
        let mut g = ScopeGroups::default();
        for r in ["a", "b", "c"] {
            g.expect(r);
        }
        g.expect("a");
        let wide = g.widen(&[Scope::pull("b")], Scope::push_pull).unwrap();
        assert_eq!(
            names(&wide),
            [
                "repository:a:pull,push",
                "repository:b:pull,push",
                "repository:c:pull,push"
            ]
        );
        // Asking for more than the role gives, or for an unknown repository: on its own.
        let mut odd = Scope::pull("a");
        odd.actions.push("delete".into());
        assert!(g.widen(&[odd], Scope::push_pull).is_none());
        assert!(g.widen(&[Scope::pull("z")], Scope::push_pull).is_none());
        assert!(g.widen(&[], Scope::push_pull).is_none());
    }

    #[test]
    fn groups_are_bounded_and_a_request_across_two_is_asked_alone() {
        let mut g = ScopeGroups::default();
        for i in 0..GROUP + 3 {
            g.expect(&format!("r{i}"));
        }
        let first = g.widen(&[Scope::pull("r0")], Scope::pull).unwrap();
        assert_eq!(first.len(), GROUP);
        let second = g
            .widen(&[Scope::pull(&format!("r{GROUP}"))], Scope::pull)
            .unwrap();
        assert_eq!(second.len(), 3);
        let across = [Scope::pull("r0"), Scope::pull(&format!("r{GROUP}"))];
        assert!(g.widen(&across, Scope::pull).is_none());
    }

    #[test]
    fn a_repository_taken_out_is_asked_alone_and_leaves_its_group() {
        let mut g = ScopeGroups::default();
        for r in ["a", "b", "c"] {
            g.expect(r);
        }
        g.take_out(&[Scope::pull("b")]);
        assert!(g.widen(&[Scope::pull("b")], Scope::pull).is_none());
        let wide = g.widen(&[Scope::pull("a")], Scope::pull).unwrap();
        assert_eq!(names(&wide), ["repository:a:pull", "repository:c:pull"]);
        // A group of one is just the repository's own scope.
        g.take_out(&[Scope::pull("c")]);
        assert!(g.widen(&[Scope::pull("a")], Scope::pull).is_none());
    }
}
