//! The IPv6 agents of a start-only, agent-scope table, interned so that an entry names
//! its agent in one word.

use std::collections::HashMap;

use super::UNRESOLVED;

/// Most IPv6 agents with open flows one start-only, agent-scope table tells apart
/// (`AgentIntern`): ~300 KB at most per table, allocated as agents appear. A network has
/// one agent per switch or router exporting sFlow, far fewer than this; more in one shard
/// of one definition means forged datagrams, whose new flows are then dropped and counted
/// rather than growing memory without bound or being stored under another's identity.
pub const AGENT_INTERN_MAX: usize = 4096;

/// The IPv6 agents of a start-only, agent-scope table's open flows, each stored once so
/// that an entry names its agent in one word (an index here) instead of 16 bytes. Every
/// index counts the flows naming it and is freed with the last of them, so it holds at
/// most the agents of open flows, never more than [`AGENT_INTERN_MAX`].
pub(super) struct AgentIntern {
    /// Most agents held: [`AGENT_INTERN_MAX`] (tests lower it).
    pub(super) max: usize,
    pub(super) index: HashMap<[u64; 2], u32>,
    /// Address (the first two scope words) of each index.
    pub(super) addrs: Vec<[u64; 2]>,
    /// Open flows naming each index; 0 = free.
    pub(super) flows: Vec<u32>,
    pub(super) free: Vec<u32>,
}

impl AgentIntern {
    pub(super) fn new() -> AgentIntern {
        AgentIntern {
            max: AGENT_INTERN_MAX,
            index: HashMap::new(),
            addrs: Vec::new(),
            flows: Vec::new(),
            free: Vec::new(),
        }
    }

    /// The agent word of the agent in `scope`, or [`UNRESOLVED`] when it has no flow.
    #[inline(never)]
    pub(super) fn lookup(&self, scope: &[u64; 3]) -> u64 {
        self.index
            .get(&[scope[0], scope[1]])
            .map_or(UNRESOLVED, |&i| u64::from(i))
    }

    /// One more flow for the agent in `scope`, whose word is `known` (from
    /// [`AgentIntern::lookup`]); `None` when it is new and the intern is full.
    pub(super) fn acquire(&mut self, scope: &[u64; 3], known: u64) -> Option<u64> {
        if let Some(n) = usize::try_from(known)
            .ok()
            .and_then(|i| self.flows.get_mut(i))
        {
            *n += 1;
            return Some(known);
        }
        let addr = [scope[0], scope[1]];
        let i = match self.free.pop() {
            Some(i) => i as usize,
            None if self.addrs.len() < self.max => {
                self.addrs.push(addr);
                self.flows.push(0);
                self.addrs.len() - 1
            }
            None => return None,
        };
        self.addrs[i] = addr;
        self.flows[i] = 1;
        // `i` < `max` <= AGENT_INTERN_MAX, so it fits in u32.
        self.index.insert(addr, i as u32);
        Some(i as u64)
    }

    /// A flow naming agent word `word` is gone.
    pub(super) fn release(&mut self, word: u64) {
        let Ok(i) = usize::try_from(word) else {
            return;
        };
        if let Some(n) = self.flows.get_mut(i) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                self.index.remove(&self.addrs[i]);
                self.free.push(i as u32);
            }
        }
    }

    /// The address words of agent word `word`.
    pub(super) fn addr(&self, word: u64) -> [u64; 2] {
        usize::try_from(word)
            .ok()
            .and_then(|i| self.addrs.get(i))
            .copied()
            .unwrap_or([0; 2])
    }

    /// Agents with open flows.
    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        self.index.len()
    }

    pub(super) fn clear(&mut self) {
        self.index.clear();
        self.addrs.clear();
        self.flows.clear();
        self.free.clear();
    }
}
