//! The rule layer: blocked patterns, co-occurrence combos and exceptions, compiled.

use crate::class::Class;
use crate::config::{Entry, Spec};
use crate::error::SafetyError;
use crate::pattern::{Match, Pattern, PatternSet};
use crate::text::Token;

#[derive(Debug, Clone, Copy)]
enum Owner {
    Block(Class),
    /// An exception: for one class, or for every class (`None`).
    Allow(Option<Class>),
    Combo {
        combo: usize,
        group: usize,
    },
}

#[derive(Debug, Clone)]
struct Combo {
    class: Class,
    groups: usize,
    window: usize,
}

/// A rule match that survived the exceptions.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct RuleHit {
    pub class: Class,
    /// First and one-past-last word.
    pub first: usize,
    pub last: usize,
    /// The pattern(s) that matched, as written in the policy.
    pub rule: String,
}

#[derive(Debug, Clone, Default)]
pub(crate) struct RuleSet {
    set: PatternSet,
    owners: Vec<Owner>,
    sources: Vec<String>,
    combos: Vec<Combo>,
}

impl RuleSet {
    pub(crate) fn compile(spec: &Spec) -> Result<Self, SafetyError> {
        let mut rules = RuleSet::default();
        for e in spec.expand(&spec.allow)? {
            rules.add(&e, Owner::Allow(None))?;
        }
        for class in Class::ALL {
            let cs = &spec.classes[class.index()];
            if !cs.enabled {
                continue;
            }
            let mut unused: Vec<&Entry> = cs.unblock.iter().collect();
            for e in spec.expand(&cs.block)? {
                if cs
                    .unblock
                    .iter()
                    .any(|u| u.pattern.trim() == e.pattern.trim())
                {
                    unused.retain(|u| u.pattern.trim() != e.pattern.trim());
                    continue;
                }
                rules.add(&e, Owner::Block(class))?;
            }
            if let Some(u) = unused.first() {
                return Err(SafetyError::Value {
                    location: u.location.clone(),
                    field: u.field.clone(),
                    message: format!(
                        "`{}` is not a blocked pattern of class {class} (unblock removes a \
                         pattern exactly as the policy writes it, sets expanded)",
                        u.pattern
                    ),
                });
            }
            for e in spec.expand(&cs.allow)? {
                rules.add(&e, Owner::Allow(Some(class)))?;
            }
            for combo in &cs.combos {
                let id = rules.combos.len();
                rules.combos.push(Combo {
                    class,
                    groups: combo.groups.len(),
                    window: if combo.window == 0 {
                        usize::MAX
                    } else {
                        combo.window
                    },
                });
                for (g, group) in combo.groups.iter().enumerate() {
                    for e in spec.expand(group)? {
                        rules.add(
                            &e,
                            Owner::Combo {
                                combo: id,
                                group: g,
                            },
                        )?;
                    }
                }
            }
        }
        Ok(rules)
    }

    fn add(&mut self, e: &Entry, owner: Owner) -> Result<(), SafetyError> {
        let p = Pattern::compile(&e.pattern).map_err(|message| SafetyError::Pattern {
            location: e.location.clone(),
            field: e.field.clone(),
            pattern: e.pattern.clone(),
            message,
        })?;
        let id = self.owners.len();
        self.owners.push(owner);
        self.sources.push(e.pattern.clone());
        self.set.add(id, &p);
        Ok(())
    }

    /// The first surviving hit of each class, in class priority order.
    pub(crate) fn evaluate(&self, toks: &[Token]) -> Vec<RuleHit> {
        if toks.is_empty() {
            return Vec::new();
        }
        let matches = self.set.find_all(toks);
        // Words covered by exceptions: index 0 for every class, 1 + class for one class.
        let mut covered: Vec<Option<Vec<bool>>> = vec![None; 1 + Class::ALL.len()];
        for m in &matches {
            if let Owner::Allow(c) = self.owners[m.id] {
                let slot = c.map_or(0, |c| 1 + c.index());
                let cov = covered[slot].get_or_insert_with(|| vec![false; toks.len()]);
                for w in &mut cov[m.start..m.end] {
                    *w = true;
                }
            }
        }
        let suppressed = |m: &Match, class: Class| {
            m.anchors.iter().any(|&a| {
                covered[0].as_ref().is_some_and(|c| c[a])
                    || covered[1 + class.index()].as_ref().is_some_and(|c| c[a])
            })
        };
        let mut best: Vec<Option<RuleHit>> = vec![None; Class::ALL.len()];
        let mut offer = |hit: RuleHit| {
            let slot = &mut best[hit.class.index()];
            if slot.as_ref().is_none_or(|b| hit.first < b.first) {
                *slot = Some(hit);
            }
        };
        // Per combo and group: (first word, one past last word, pattern id) of surviving matches.
        let mut events: Vec<Vec<(usize, usize, usize, usize)>> =
            vec![Vec::new(); self.combos.len()];
        for m in &matches {
            match self.owners[m.id] {
                Owner::Block(class) => {
                    if !suppressed(m, class) {
                        offer(RuleHit {
                            class,
                            first: m.start,
                            last: m.end,
                            rule: self.sources[m.id].clone(),
                        });
                    }
                }
                Owner::Combo { combo, group } => {
                    if !suppressed(m, self.combos[combo].class) {
                        events[combo].push((m.start, m.end, group, m.id));
                    }
                }
                Owner::Allow(_) => {}
            }
        }
        for (ci, mut ev) in events.into_iter().enumerate() {
            let combo = &self.combos[ci];
            if ev.is_empty() {
                continue;
            }
            ev.sort_unstable();
            if let Some((l, r)) = first_window(&ev, combo.groups, combo.window) {
                let window = &ev[l..=r];
                let first = window.iter().map(|e| e.0).min().unwrap_or(0);
                let last = window.iter().map(|e| e.1).max().unwrap_or(first + 1);
                let mut parts: Vec<&str> = Vec::new();
                for g in 0..combo.groups {
                    if let Some(e) = window.iter().find(|e| e.2 == g) {
                        parts.push(&self.sources[e.3]);
                    }
                }
                offer(RuleHit {
                    class: combo.class,
                    first,
                    last,
                    rule: parts.join(" + "),
                });
            }
        }
        best.into_iter().flatten().collect()
    }
}

/// The earliest-ending window of `events` (sorted by first word) that holds one event of
/// every group, its first words at most `window` apart; trimmed on the left.
fn first_window(
    events: &[(usize, usize, usize, usize)],
    groups: usize,
    window: usize,
) -> Option<(usize, usize)> {
    let mut count = vec![0usize; groups];
    let mut present = 0;
    let mut l = 0;
    for r in 0..events.len() {
        let g = events[r].2;
        if count[g] == 0 {
            present += 1;
        }
        count[g] += 1;
        while events[r].0 - events[l].0 > window {
            let gl = events[l].2;
            count[gl] -= 1;
            if count[gl] == 0 {
                present -= 1;
            }
            l += 1;
        }
        if present == groups {
            while count[events[l].2] > 1 {
                count[events[l].2] -= 1;
                l += 1;
            }
            return Some((l, r));
        }
    }
    None
}
