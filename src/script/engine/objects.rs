//! sFlow-RT's record and event objects, as the handlers receive them, built for one batch
//! at a time by [`RecordMaker`] so that a record costs its own values only (see its doc
//! for why it keeps objects alive across the batch).

use std::sync::Arc;

use rquickjs::{Atom, Ctx, Object};

use crate::flow::FlowEvent;

/// Builds sFlow-RT's flow records (`flowID`, `name`, `flowKeys`, `value`, `start`, `end`,
/// `agent`, `dataSource`) and threshold events (`eventID`, `thresholdID`, `metric`,
/// `agent`, `dataSource`, `flowKey`, `value`, `threshold`, `timestamp`) for one batch:
/// the property names are atoms made once, the last definition name's string is reused
/// and the texts are written without `core::fmt`, so a record costs its own values only.
///
/// QuickJS frees an object's shape (its property layout) with the last object using it,
/// and each property added makes a new shape; a record freed after its handler returns
/// would take its shapes with it, and the next record would build (allocate and hash) all
/// of them again. So the maker keeps, for the batch, one object at each step of the
/// records' and events' layouts: every record then finds its shapes in QuickJS's table.
pub(super) struct RecordMaker<'js> {
    ctx: Ctx<'js>,
    atoms: Vec<Atom<'js>>,
    /// Made at the first event of the batch: most batches hold records only.
    event_atoms: Vec<Atom<'js>>,
    /// Objects holding every shape a record or an event passes through.
    shapes: Vec<Object<'js>>,
    name: Option<(Arc<str>, rquickjs::String<'js>)>,
    text: Vec<u8>,
}

impl<'js> RecordMaker<'js> {
    const FIELDS: [&'static str; 8] = [
        "flowID",
        "name",
        "flowKeys",
        "value",
        "start",
        "end",
        "agent",
        "dataSource",
    ];

    /// sFlow-RT's event fields; `status` (`end`) only on a re-arm event, which sFlow-RT
    /// does not send.
    const EVENT_FIELDS: [&'static str; 10] = [
        "eventID",
        "thresholdID",
        "metric",
        "agent",
        "dataSource",
        "flowKey",
        "value",
        "threshold",
        "timestamp",
        "status",
    ];

    pub(super) fn new(ctx: &Ctx<'js>) -> rquickjs::Result<RecordMaker<'js>> {
        let atoms = Self::FIELDS
            .iter()
            .map(|n| Atom::from_str(ctx.clone(), n))
            .collect::<rquickjs::Result<Vec<_>>>()?;
        let mut maker = RecordMaker {
            ctx: ctx.clone(),
            atoms,
            event_atoms: Vec::new(),
            shapes: Vec::new(),
            name: None,
            text: Vec::with_capacity(64),
        };
        maker.keep_shapes(false)?;
        Ok(maker)
    }

    /// Keep an object at each step of the record layout (`events`: of the event layout,
    /// with and without `flowKey`).
    fn keep_shapes(&mut self, events: bool) -> rquickjs::Result<()> {
        let layouts: Vec<Vec<Atom<'js>>> = if events {
            let all = &self.event_atoms;
            // Flow metrics carry `flowKey` (index 5), interface metrics do not.
            let without: Vec<Atom<'js>> = (all.iter().enumerate())
                .filter(|&(i, _)| i != 5)
                .map(|(_, a)| a.clone())
                .collect();
            vec![all.clone(), without]
        } else {
            vec![self.atoms.clone()]
        };
        for layout in layouts {
            for n in 1..=layout.len() {
                let o = Object::new(self.ctx.clone())?;
                for a in &layout[..n] {
                    o.set(a.clone(), 0)?;
                }
                self.shapes.push(o);
            }
        }
        Ok(())
    }

    /// `self.text` as a JavaScript string (ASCII, or the UTF-8 separator).
    fn text(&self) -> rquickjs::Result<rquickjs::String<'js>> {
        rquickjs::String::from_str(
            self.ctx.clone(),
            std::str::from_utf8(&self.text).unwrap_or(""),
        )
    }

    pub(super) fn record(&mut self, e: &FlowEvent) -> rquickjs::Result<Object<'js>> {
        use crate::sink::format::{push_ip, push_key_value, push_u64};
        let name = match &self.name {
            Some((n, js)) if Arc::ptr_eq(n, &e.name) => js.clone(),
            _ => {
                let js = rquickjs::String::from_str(self.ctx.clone(), &e.name)?;
                self.name = Some((Arc::clone(&e.name), js.clone()));
                js
            }
        };
        let o = Object::new(self.ctx.clone())?;
        let atom = |i: usize| self.atoms[i].clone();
        o.set(atom(0), e.flow_id as f64)?;
        o.set(atom(1), name)?;
        self.text.clear();
        for (i, (_, v)) in e.keys.iter().enumerate() {
            if i > 0 {
                self.text.extend_from_slice(e.separator.as_bytes());
            }
            push_key_value(v, &mut self.text);
        }
        o.set(self.atoms[2].clone(), self.text()?)?;
        o.set(self.atoms[3].clone(), e.value)?;
        o.set(self.atoms[4].clone(), e.start_ms as f64)?;
        o.set(self.atoms[5].clone(), e.end_ms as f64)?;
        self.text.clear();
        push_ip(e.agent, &mut self.text);
        o.set(self.atoms[6].clone(), self.text()?)?;
        self.text.clear();
        push_u64(u64::from(e.data_source), &mut self.text);
        o.set(self.atoms[7].clone(), self.text()?)?;
        Ok(o)
    }

    /// The event object of a threshold event (`e.threshold` is set): `flowKey` for a flow
    /// metric only, as sFlow-RT gives it.
    pub(super) fn event(&mut self, e: &FlowEvent) -> rquickjs::Result<Object<'js>> {
        use crate::sink::format::{push_ip, push_key_value, push_u64};
        let Some(t) = &e.threshold else {
            return self.record(e);
        };
        if self.event_atoms.is_empty() {
            self.event_atoms = Self::EVENT_FIELDS
                .iter()
                .map(|n| Atom::from_str(self.ctx.clone(), n))
                .collect::<rquickjs::Result<Vec<_>>>()?;
            self.keep_shapes(true)?;
        }
        let atom = |i: usize| self.event_atoms[i].clone();
        let o = Object::new(self.ctx.clone())?;
        o.set(atom(0), e.flow_id as f64)?;
        o.set(atom(1), &*e.name)?;
        o.set(atom(2), &*t.metric)?;
        self.text.clear();
        push_ip(e.agent, &mut self.text);
        o.set(atom(3), self.text()?)?;
        self.text.clear();
        push_u64(u64::from(e.data_source), &mut self.text);
        o.set(atom(4), self.text()?)?;
        if !e.keys.is_empty() {
            self.text.clear();
            for (i, (_, v)) in e.keys.iter().enumerate() {
                if i > 0 {
                    self.text.extend_from_slice(e.separator.as_bytes());
                }
                push_key_value(v, &mut self.text);
            }
            o.set(atom(5), self.text()?)?;
        }
        o.set(atom(6), e.value)?;
        o.set(atom(7), t.threshold)?;
        o.set(atom(8), e.start_ms as f64)?;
        if t.end {
            o.set(atom(9), "end")?;
        }
        Ok(o)
    }
}
