//! The IETF `RateLimit` / `RateLimit-Policy` fields: collected while the fields stream past,
//! resolved into one [`Scope::Requests`] quota when the response is complete.
//!
//! Policies and limit items refer to each other by name and may come in any order, over several
//! field lines, so they are kept in small fixed tables (names copied, at most 32 bytes) until
//! [`Parser::finish`](super::Parser::finish). The rules are in the [`headers`](super) module documentation.

use super::sf::{self, Bare, Member, Param};
use super::snapshot::{Dialect, HeaderError, Reset, Scope, Snapshot};
use super::{Fact, State, report};
use crate::time::{self, Duration};

/// How many named IETF policies, and how many `RateLimit` items, one response may carry before
/// the rest are reported as [`HeaderError::TooMany`].
///
/// # Examples
///
/// ```
/// use headroom::headers::{self, HeaderError, IETF_CAPACITY};
///
/// let many: Vec<String> = (0..=IETF_CAPACITY).map(|i| format!("\"p{i}\";q=10")).collect();
/// let snapshot = headers::parse(None, [("RateLimit-Policy", many.join(","))]);
/// assert!(snapshot.ignored.iter().any(|i| i.why == HeaderError::TooMany));
/// ```
pub const IETF_CAPACITY: usize = 8;

const NAME_CAPACITY: usize = 32;

type Name = heapless::Vec<u8, NAME_CAPACITY>;

/// A `RateLimit-Policy` member: ≥ -08 named (`"permin";q=50;w=60`) or ≤ -07 (`100;w=10`).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Policy {
    name: Option<Name>,
    quota: u64,
    window: Option<Duration>,
    /// The quota unit is requests (`qu` absent or `"requests"`).
    requests: bool,
    index: usize,
}

/// A ≥ -08 `RateLimit` member: `"permin";r=15;t=40`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Item {
    name: Name,
    remaining: u64,
    reset: Option<Duration>,
    /// A `q` on `RateLimit` (not in the grammar; seen in the draft's examples).
    quota: Option<u64>,
    index: usize,
}

/// The IETF fields seen so far.
#[derive(Debug, Clone, Default)]
pub(super) struct Tables {
    policies: heapless::Vec<Policy, IETF_CAPACITY>,
    items: heapless::Vec<Item, IETF_CAPACITY>,
}

impl Tables {
    /// Whether no IETF policy or item was seen: the usual case, with nothing to resolve.
    pub(super) fn is_empty(&self) -> bool {
        self.policies.is_empty() && self.items.is_empty()
    }
}

/// One way of filling the requests quota.
#[derive(Debug, Clone, Copy, Default)]
struct Candidate {
    limit: Option<u64>,
    remaining: Option<u64>,
    reset: Option<Duration>,
    window: Option<Duration>,
    index: usize,
    /// The policy field, when it is another field than `index`.
    policy_index: Option<usize>,
}

impl Candidate {
    fn from_policy(policy: &Policy) -> Self {
        Self {
            limit: Some(policy.quota),
            window: policy.window,
            index: policy.index,
            ..Self::default()
        }
    }

    /// Whether `self` binds harder than `other`: smaller known remaining, then lower rate.
    fn more_restrictive(&self, other: &Self) -> bool {
        match (self.remaining, other.remaining) {
            (Some(mine), Some(theirs)) if mine != theirs => return mine < theirs,
            (Some(_), None) => return true,
            (None, Some(_)) => return false,
            _ => {}
        }
        match (self.rate(), other.rate()) {
            // q/w < q'/w'  ⇔  q·w' < q'·w, exact in u128.
            (Some((q, w)), Some((q2, w2))) => {
                u128::from(q).saturating_mul(u128::from(w2))
                    < u128::from(q2).saturating_mul(u128::from(w))
            }
            (Some(_), None) => true,
            _ => false,
        }
    }

    fn rate(&self) -> Option<(u64, u64)> {
        Some((self.limit?, self.window?.as_ticks()))
    }
}

/// A non-negative Integer, or why not.
fn number(bare: Bare<'_>) -> Result<u64, HeaderError> {
    match bare {
        Bare::Integer(value) => Ok(value),
        Bare::Negative => Err(HeaderError::Negative),
        Bare::TooLarge => Err(HeaderError::NumberTooLarge),
        _ => Err(HeaderError::BadStructuredField),
    }
}

/// A policy or item name: a String, or (tolerated) a Token.
fn name(bare: Bare<'_>) -> Result<Name, HeaderError> {
    match bare {
        Bare::String(name) | Bare::Token(name) => {
            Name::from_slice(name).map_err(|_| HeaderError::BadStructuredField)
        }
        _ => Err(HeaderError::BadStructuredField),
    }
}

/// The `w` parameter: a non-zero Integer of seconds.
fn window(member: &Member<'_>) -> Result<Option<Duration>, HeaderError> {
    match member.param(Param::W).map(number).transpose()? {
        Some(0) => Err(HeaderError::BadStructuredField),
        Some(secs) => Ok(Some(time::secs(secs))),
        None => Ok(None),
    }
}

fn policy(member: &Member<'_>, index: usize) -> Result<Policy, HeaderError> {
    if member.value.is_some() {
        return Err(HeaderError::BadStructuredField);
    }
    let (name, quota) = match member.key {
        Bare::String(_) | Bare::Token(_) => {
            let quota = member
                .param(Param::Q)
                .ok_or(HeaderError::BadStructuredField)?;
            (Some(name(member.key)?), number(quota)?)
        }
        key => (None, number(key)?),
    };
    if quota == 0 {
        return Err(HeaderError::ZeroLimit);
    }
    let requests = match member.param(Param::Qu) {
        None => true,
        Some(Bare::String(unit) | Bare::Token(unit)) => unit == b"requests",
        Some(_) => return Err(HeaderError::BadStructuredField),
    };
    Ok(Policy {
        name,
        quota,
        window: window(member)?,
        requests,
        index,
    })
}

fn item(member: &Member<'_>, index: usize) -> Result<Item, HeaderError> {
    let name = name(member.key)?;
    let remaining = number(
        member
            .param(Param::R)
            .ok_or(HeaderError::BadStructuredField)?,
    )?;
    let reset = member
        .param(Param::T)
        .map(number)
        .transpose()?
        .map(time::secs);
    let quota = member
        .param(Param::Q)
        .and_then(|q| number(q).ok())
        .filter(|&q| q > 0);
    Ok(Item {
        name,
        remaining,
        reset,
        quota,
        index,
    })
}

impl State {
    /// `RateLimit`: a -07 dictionary or a ≥ -08 list of limit items.
    #[inline(never)]
    pub(super) fn push_rate_limit(&mut self, s: &mut Snapshot, index: usize, value: &[u8]) {
        let Some(members) = Self::members(value) else {
            return report(s, index, empty_or_malformed(value));
        };
        for member in members {
            if let Some(value) = member.value {
                self.ietf_generation(Dialect::IetfDictionary);
                let Bare::Token(key) = member.key else {
                    continue;
                };
                let fact = match key {
                    b"limit" => number(value).and_then(|limit| match limit {
                        0 => Err(HeaderError::ZeroLimit),
                        limit => Ok(Fact::Limit(limit)),
                    }),
                    b"remaining" => number(value).map(Fact::Remaining),
                    b"reset" => {
                        number(value).map(|secs| Fact::Reset(Reset::After(time::secs(secs))))
                    }
                    _ => continue,
                };
                self.set_fact(s, index, Scope::Requests, fact);
                continue;
            }
            self.ietf_generation(Dialect::IetfPolicies);
            match item(&member, index) {
                Ok(item) => self.keep_item(s, item),
                Err(why) => report(s, index, why),
            }
        }
    }

    /// `RateLimit-Policy`: ≤ -07 integer items or ≥ -08 named policies.
    #[inline(never)]
    pub(super) fn push_policy(&mut self, s: &mut Snapshot, index: usize, value: &[u8]) {
        let Some(members) = Self::members(value) else {
            return report(s, index, empty_or_malformed(value));
        };
        for member in members {
            if matches!(member.key, Bare::String(_) | Bare::Token(_)) {
                self.ietf_generation(Dialect::IetfPolicies);
            }
            match policy(&member, index) {
                Ok(policy) => self.keep_policy(s, policy),
                Err(why) => report(s, index, why),
            }
        }
    }

    fn members(value: &[u8]) -> Option<sf::Members<'_>> {
        if value.is_empty() {
            None
        } else {
            sf::members(value)
        }
    }

    fn keep_item(&mut self, s: &mut Snapshot, item: Item) {
        let index = item.index;
        let tables = self.ietf.get_or_insert_with(Tables::default);
        if let Some(kept) = tables.items.iter().find(|kept| kept.name == item.name) {
            let same = (kept.remaining, kept.reset, kept.quota)
                == (item.remaining, item.reset, item.quota);
            if !same {
                report(s, index, HeaderError::Duplicate);
            }
            return;
        }
        if tables.items.push(item).is_err() {
            report(s, index, HeaderError::TooMany);
        }
    }

    fn keep_policy(&mut self, s: &mut Snapshot, policy: Policy) {
        let index = policy.index;
        let tables = self.ietf.get_or_insert_with(Tables::default);
        if policy.name.is_some()
            && let Some(kept) = tables.policies.iter().find(|kept| kept.name == policy.name)
        {
            let same = (kept.quota, kept.window, kept.requests)
                == (policy.quota, policy.window, policy.requests);
            if !same {
                report(s, index, HeaderError::Duplicate);
            }
            return;
        }
        if tables.policies.push(policy).is_err() {
            report(s, index, HeaderError::TooMany);
        }
    }

    /// Turns the collected policies and items into the requests quota (the caller skips this
    /// when [`Tables::is_empty`]).
    #[inline(never)]
    pub(super) fn resolve_ietf(&mut self, s: &mut Snapshot) {
        let tables = self.ietf.take().unwrap_or_default();
        let flat = s.quota(Scope::Requests).copied();
        let flat_limit = flat.and_then(|quota| quota.limit);
        let policy_of = |name: &Name| {
            tables
                .policies
                .iter()
                .find(|policy| policy.name.as_ref() == Some(name))
        };
        let mut candidates: heapless::Vec<Candidate, { 2 * IETF_CAPACITY }> = heapless::Vec::new();
        let mut window_matched = false;
        for policy in &tables.policies {
            if !policy.requests {
                report(s, policy.index, HeaderError::Unsupported);
                continue;
            }
            let Some(name) = &policy.name else {
                // ≤ -07: the policy whose quota is the limit gives the window.
                match flat_limit {
                    Some(limit) if limit == policy.quota && !window_matched => {
                        window_matched = true;
                        if let Some(window) = policy.window {
                            self.set_fact(
                                s,
                                policy.index,
                                Scope::Requests,
                                Ok(Fact::Window(window)),
                            );
                        }
                    }
                    Some(_) => report(s, policy.index, HeaderError::Superseded),
                    None => {
                        let _ = candidates.push(Candidate::from_policy(policy));
                    }
                }
                continue;
            };
            if flat.is_some() {
                report(s, policy.index, HeaderError::Superseded);
            } else if !tables.items.iter().any(|item| item.name == *name) {
                let _ = candidates.push(Candidate::from_policy(policy));
            }
        }
        for item in &tables.items {
            let policy = policy_of(&item.name);
            if policy.is_some_and(|policy| !policy.requests) {
                report(s, item.index, HeaderError::Unsupported);
                continue;
            }
            if flat.is_some() {
                report(s, item.index, HeaderError::Superseded);
                continue;
            }
            let candidate = Candidate {
                limit: policy.map(|policy| policy.quota).or(item.quota),
                remaining: Some(item.remaining),
                reset: item.reset,
                window: policy.and_then(|policy| policy.window),
                index: item.index,
                policy_index: policy.map(|policy| policy.index),
            };
            let _ = candidates.push(candidate);
        }
        let Some((best_at, best)) =
            candidates
                .iter()
                .copied()
                .enumerate()
                .reduce(|(best_at, best), (at, next)| {
                    if next.more_restrictive(&best) {
                        (at, next)
                    } else {
                        (best_at, best)
                    }
                })
        else {
            return;
        };
        for (at, loser) in candidates.iter().enumerate() {
            if at == best_at {
                continue;
            }
            report(s, loser.index, HeaderError::Superseded);
            if let Some(policy_index) = loser.policy_index {
                report(s, policy_index, HeaderError::Superseded);
            }
        }
        let facts = [
            best.limit.map(Fact::Limit),
            best.remaining.map(Fact::Remaining),
            best.reset.map(|reset| Fact::Reset(Reset::After(reset))),
            best.window.map(Fact::Window),
        ];
        for fact in facts.into_iter().flatten() {
            self.set_fact(s, best.index, Scope::Requests, Ok(fact));
        }
    }
}

fn empty_or_malformed(value: &[u8]) -> HeaderError {
    if value.is_empty() {
        HeaderError::Empty
    } else {
        HeaderError::BadStructuredField
    }
}

#[cfg(test)]
mod tests;
