//! The sFlow-RT functions a script can call, bound into each script's context.
//!
//! Supported, with sFlow-RT's argument shapes: `setFlow(name, spec)`, `clearFlow(name)`,
//! `setThreshold(name, spec)`, `clearThreshold(name)`, `setGroups(name, groups)`,
//! `setFlowHandler(fn, [names])`, `setEventHandler(fn, [names])`,
//! `setIntervalHandler(fn, seconds)`, `syslog(host, port, facility, severity, msg)`,
//! `logInfo`, `logWarning`, `logSevere`, `getSystemProperty(name)`. Nothing else of
//! sFlow-RT's API is defined, so the load-time scan ([`super::scan`]) refuses a script
//! that calls it.
//!
//! The configuring calls build the native engine's own specs, so a script and the
//! configuration file cannot disagree on what an attribute means: `setFlow` the
//! [`FlowSpec`] of a `[[flow]]` table, `setThreshold` the [`ThresholdSpec`] of a
//! `[[threshold]]`, `setGroups` the [`GroupSpec`] of a `[[group]]`. Spec objects go
//! through JSON, so an attribute flowsift does not know is refused with its name, as in
//! the configuration file. Each spec is checked when it is set (a group set's CIDRs, a
//! flow's keys against the group sets known so far, a threshold's metric against the
//! flows known so far, its name against the configuration file's), so the error carries
//! the script's file and line. The native
//! engine is built after every script has loaded; a configuring call made later (from a
//! handler) is checked the same way, marks the scripts' definitions changed, and the
//! script thread hands the whole new set to the run loop, which applies it as a SIGHUP
//! reload would ([`super::engine`]).

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rquickjs::function::Opt;
use rquickjs::{Ctx, Exception, Function, Object, Persistent, Value};

use super::syslog::SyslogOut;
use crate::flow::{FlowDefinition, FlowSpec};
use crate::groups::{GroupSet, GroupSpec, Groups};
use crate::threshold::{Threshold, ThresholdSpec};

/// The global functions this module defines, in the order the docs list them.
pub const SUPPORTED: &[&str] = &[
    "setFlow",
    "clearFlow",
    "setThreshold",
    "clearThreshold",
    "setGroups",
    "setFlowHandler",
    "setEventHandler",
    "setIntervalHandler",
    "syslog",
    "logInfo",
    "logWarning",
    "logSevere",
    "getSystemProperty",
];

/// Shortest interval `setIntervalHandler` accepts.
const MIN_INTERVAL: Duration = Duration::from_millis(100);

/// What the configuration file defines, against which the scripts' specs are checked.
#[derive(Clone, Debug, Default)]
pub struct Native {
    /// The `[[flow]]` definitions.
    pub flows: Vec<FlowSpec>,
    /// The `[[group]]` sets.
    pub groups: Groups,
    /// The `[[threshold]]` names.
    pub thresholds: Vec<String>,
}

/// State every script shares: what they configure, properties, syslog output.
pub struct Common {
    /// True while the scripts' top levels run.
    pub loading: bool,
    /// A configuring call (or a handler's name list) changed the definitions after load,
    /// and the change has not been handed to the run loop yet.
    pub changed: bool,
    /// Configuring calls made after load.
    pub calls_after_load: Arc<AtomicU64>,
    /// Flows the scripts defined, in definition order.
    pub flows: Vec<FlowSpec>,
    /// Thresholds the scripts defined, in definition order.
    pub thresholds: Vec<ThresholdSpec>,
    /// Group sets the scripts defined, in definition order.
    pub groups: Vec<GroupSpec>,
    /// The configuration's definitions, and its group sets joined by the scripts'.
    pub native: Native,
    /// The names of the configuration's own group sets (`native.groups` holds the
    /// scripts' too).
    pub native_groups: Vec<String>,
    pub properties: BTreeMap<String, String>,
    pub syslog: SyslogOut,
}

impl Common {
    /// `native` in force from now on: the scripts' group sets join its own.
    pub fn set_native(&mut self, native: Native) {
        self.native_groups = native
            .groups
            .names()
            .into_iter()
            .map(str::to_owned)
            .collect();
        self.native = native;
        for g in &self.groups {
            if let Ok(set) = g.load(None) {
                self.native.groups.insert(set);
            }
        }
    }

    /// Refuse `name` when the configuration file defines it as a `kind` (`what` its table).
    fn own_name(&self, ctx: &Ctx<'_>, call: &str, kind: &str, name: &str) -> rquickjs::Result<()> {
        let (table, taken) = match kind {
            "flow" => ("[[flow]]", self.native.flows.iter().any(|f| f.name == name)),
            "threshold" => (
                "[[threshold]]",
                self.native.thresholds.iter().any(|t| t == name),
            ),
            _ => ("[[group]]", self.native_groups.iter().any(|g| g == name)),
        };
        if !taken {
            return Ok(());
        }
        Err(throw(
            ctx,
            &format!("{call}: {kind} '{name}' is defined both by a {table} table and by a script's {call}"),
        ))
    }

    /// Every flow known so far (the configuration's, then the scripts') with its
    /// `maxEntries`, as a threshold's metric is checked against; a flow that does not
    /// build over the known group sets counts with the default bound.
    fn flow_bounds(&self) -> Vec<(&str, usize)> {
        self.native
            .flows
            .iter()
            .chain(&self.flows)
            .map(|f| {
                let max = FlowDefinition::from_spec_in(f, &self.native.groups)
                    .map_or(100_000, |d| d.max_entries);
                (f.name.as_str(), max)
            })
            .collect()
    }
}

/// One flow or event handler: the function and the flow or threshold names it takes
/// (`None`: every one).
pub struct Handler {
    pub function: Persistent<Function<'static>>,
    pub names: Option<Vec<String>>,
}

/// An interval handler and when it runs next.
pub struct IntervalHandler {
    pub function: Persistent<Function<'static>>,
    pub every: Duration,
    pub next: Instant,
}

/// State of one script.
pub struct PerScript {
    /// The file, as named on the command line or in the configuration.
    pub file: String,
    pub flow_handler: Option<Handler>,
    pub event_handler: Option<Handler>,
    pub interval: Option<IntervalHandler>,
    pub log: RateLog,
}

/// At most [`RateLog::LINES`] log lines per script per [`RateLog::WINDOW`]; the rest are
/// counted and the count printed with the next window's first line.
pub struct RateLog {
    window: Instant,
    lines: u32,
    suppressed: u64,
}

impl Default for RateLog {
    fn default() -> Self {
        RateLog {
            window: Instant::now(),
            lines: 0,
            suppressed: 0,
        }
    }
}

impl RateLog {
    pub const LINES: u32 = 20;
    pub const WINDOW: Duration = Duration::from_secs(10);

    /// Print `msg` for `file` unless the window's budget is spent.
    pub fn log(&mut self, file: &str, level: &str, msg: &str) {
        if self.window.elapsed() >= Self::WINDOW {
            if self.suppressed > 0 {
                eprintln!(
                    "flowsift: script {file}: {} log lines suppressed (at most {} every {} s)",
                    self.suppressed,
                    Self::LINES,
                    Self::WINDOW.as_secs()
                );
            }
            self.window = Instant::now();
            self.lines = 0;
            self.suppressed = 0;
        }
        if self.lines >= Self::LINES {
            self.suppressed += 1;
            return;
        }
        self.lines += 1;
        eprintln!("flowsift: script {file}: {level}: {msg}");
    }
}

fn throw(ctx: &Ctx<'_>, msg: &str) -> rquickjs::Error {
    Exception::throw_message(ctx, msg)
}

/// A JavaScript value as text, as `String(v)` would give it.
pub fn text_of<'js>(ctx: &Ctx<'js>, v: &Value<'js>) -> rquickjs::Result<String> {
    if let Some(s) = v.as_string() {
        return s.to_string();
    }
    if let Some(n) = v.as_int() {
        return Ok(n.to_string());
    }
    let c: rquickjs::convert::Coerced<String> = rquickjs::FromJs::from_js(ctx, v.clone())?;
    Ok(c.0)
}

/// A number argument as an integer in `range`, or a thrown error naming `what`.
fn int_arg<'js>(
    ctx: &Ctx<'js>,
    v: &Value<'js>,
    what: &str,
    range: std::ops::RangeInclusive<i64>,
) -> rquickjs::Result<i64> {
    let n = if let Some(i) = v.as_int() {
        Some(i64::from(i))
    } else if let Some(f) = v.as_float() {
        (f.fract() == 0.0 && f.is_finite()).then_some(f as i64)
    } else if let Some(s) = v.as_string() {
        s.to_string()?.trim().parse().ok()
    } else {
        None
    };
    match n {
        Some(n) if range.contains(&n) => Ok(n),
        _ => Err(throw(
            ctx,
            &format!(
                "{what} must be an integer in {}..={}",
                range.start(),
                range.end()
            ),
        )),
    }
}

/// Flow or threshold names from `[names]`: an array of strings, or a single string.
fn names_arg<'js>(ctx: &Ctx<'js>, v: Opt<Value<'js>>) -> rquickjs::Result<Option<Vec<String>>> {
    let Some(v) = v.0 else { return Ok(None) };
    if v.is_undefined() || v.is_null() {
        return Ok(None);
    }
    if let Some(a) = v.as_array() {
        let mut out = Vec::with_capacity(a.len());
        for x in a.iter::<Value>() {
            out.push(text_of(ctx, &x?)?);
        }
        return Ok(Some(out));
    }
    Ok(Some(vec![text_of(ctx, &v)?]))
}

/// The native spec of `call(name, spec)`: `spec` as JSON with `name` added (`named`) or
/// in place, deserialized as the configuration file's table would be.
fn native_spec<'js, T: serde::de::DeserializeOwned>(
    ctx: &Ctx<'js>,
    call: &str,
    name: &str,
    spec: Value<'js>,
    named: bool,
) -> rquickjs::Result<T> {
    let not_object = || {
        throw(
            ctx,
            &format!("{call}('{name}'): the spec must be an object"),
        )
    };
    if !spec.is_object() || spec.is_array() || spec.is_function() {
        return Err(not_object());
    }
    let json = match ctx.json_stringify(spec)? {
        Some(s) => s.to_string()?,
        None => return Err(not_object()),
    };
    let mut value: serde_json::Value =
        serde_json::from_str(&json).map_err(|e| throw(ctx, &format!("{call}('{name}'): {e}")))?;
    if named {
        let Some(obj) = value.as_object_mut() else {
            return Err(not_object());
        };
        obj.insert("name".into(), serde_json::Value::String(name.to_owned()));
    }
    serde_json::from_value(value).map_err(|e| throw(ctx, &format!("{call}('{name}'): {e}")))
}

/// The `[[flow]]` spec of `setFlow(name, spec)`, checked over the known group sets.
fn flow_spec<'js>(
    ctx: &Ctx<'js>,
    name: &str,
    spec: Value<'js>,
    groups: &Groups,
) -> rquickjs::Result<FlowSpec> {
    let spec: FlowSpec = native_spec(ctx, "setFlow", name, spec, true)?;
    FlowDefinition::from_spec_in(&spec, groups)
        .map_err(|e| throw(ctx, &format!("setFlow: {e}")))?;
    Ok(spec)
}

/// The `[[threshold]]` spec of `setThreshold(name, spec)`, its metric checked against the
/// flows known so far and the interface metrics.
fn threshold_spec<'js>(
    ctx: &Ctx<'js>,
    name: &str,
    spec: Value<'js>,
    common: &Common,
) -> rquickjs::Result<ThresholdSpec> {
    // sFlow-RT's `filter` restricts the flows a threshold compares; flowsift's threshold
    // words live in its flow's entries, so the filter belongs to the flow.
    if spec
        .as_object()
        .is_some_and(|o| o.contains_key("filter").unwrap_or(false))
    {
        return Err(throw(
            ctx,
            &format!(
                "setThreshold('{name}'): unknown field `filter`: a threshold compares every flow of its metric; \
                 define a flow with that filter (setFlow's `filter`) and set the threshold on it"
            ),
        ));
    }
    let spec: ThresholdSpec = native_spec(ctx, "setThreshold", name, spec, true)?;
    Threshold::from_spec(&spec, &common.flow_bounds())
        .map_err(|e| throw(ctx, &format!("setThreshold: {e}")))?;
    Ok(spec)
}

/// The `[[group]]` spec of `setGroups(name, {group: [cidr, ...]})` and the set it builds.
fn group_spec<'js>(
    ctx: &Ctx<'js>,
    name: &str,
    groups: Value<'js>,
) -> rquickjs::Result<(GroupSpec, GroupSet)> {
    let map: BTreeMap<String, Vec<String>> = native_spec(ctx, "setGroups", name, groups, false)?;
    let spec = GroupSpec {
        name: name.to_owned(),
        groups: map,
        file: None,
    };
    let set = spec
        .load(None)
        .map_err(|e| throw(ctx, &format!("setGroups: {e}")))?;
    Ok((spec, set))
}

/// Note a change of the definitions: after load, the run loop must apply it.
fn changed(common: &mut Common) {
    if !common.loading {
        common.changed = true;
        common.calls_after_load.fetch_add(1, Ordering::Relaxed);
    }
}

/// Put `item` in `list` in place of the one named `name`, or at its end.
fn replace_or_push<T>(list: &mut Vec<T>, item: T, name: impl Fn(&T) -> &str) {
    let n = name(&item).to_owned();
    match list.iter_mut().find(|x| name(x) == n) {
        Some(x) => *x = item,
        None => list.push(item),
    }
}

/// Define the supported functions as globals of `ctx`.
pub fn install<'js>(
    ctx: &Ctx<'js>,
    common: &Rc<RefCell<Common>>,
    script: &Rc<RefCell<PerScript>>,
) -> rquickjs::Result<()> {
    let g = ctx.globals();

    let c = Rc::clone(common);
    g.set(
        "setFlow",
        Function::new(
            ctx.clone(),
            move |ctx: Ctx<'js>, name: String, spec: Value<'js>| {
                c.borrow().own_name(&ctx, "setFlow", "flow", &name)?;
                let spec = flow_spec(&ctx, &name, spec, &c.borrow().native.groups)?;
                let mut c = c.borrow_mut();
                replace_or_push(&mut c.flows, spec, |f| &f.name);
                changed(&mut c);
                Ok::<_, rquickjs::Error>(())
            },
        )?,
    )?;

    let c = Rc::clone(common);
    g.set(
        "clearFlow",
        Function::new(ctx.clone(), move |name: String| {
            let mut c = c.borrow_mut();
            c.flows.retain(|f| f.name != name);
            changed(&mut c);
            Ok::<_, rquickjs::Error>(())
        })?,
    )?;

    let c = Rc::clone(common);
    g.set(
        "setThreshold",
        Function::new(
            ctx.clone(),
            move |ctx: Ctx<'js>, name: String, spec: Value<'js>| {
                c.borrow()
                    .own_name(&ctx, "setThreshold", "threshold", &name)?;
                let spec = threshold_spec(&ctx, &name, spec, &c.borrow())?;
                let mut c = c.borrow_mut();
                replace_or_push(&mut c.thresholds, spec, |t| &t.name);
                changed(&mut c);
                Ok::<_, rquickjs::Error>(())
            },
        )?,
    )?;

    let c = Rc::clone(common);
    g.set(
        "clearThreshold",
        Function::new(ctx.clone(), move |name: String| {
            let mut c = c.borrow_mut();
            c.thresholds.retain(|t| t.name != name);
            changed(&mut c);
            Ok::<_, rquickjs::Error>(())
        })?,
    )?;

    let c = Rc::clone(common);
    g.set(
        "setGroups",
        Function::new(
            ctx.clone(),
            move |ctx: Ctx<'js>, name: String, groups: Value<'js>| {
                c.borrow().own_name(&ctx, "setGroups", "group set", &name)?;
                let (spec, set) = group_spec(&ctx, &name, groups)?;
                let mut c = c.borrow_mut();
                c.native.groups.insert(set);
                replace_or_push(&mut c.groups, spec, |g| &g.name);
                changed(&mut c);
                Ok::<_, rquickjs::Error>(())
            },
        )?,
    )?;

    let s = Rc::clone(script);
    let c = Rc::clone(common);
    g.set(
        "setFlowHandler",
        Function::new(
            ctx.clone(),
            move |ctx: Ctx<'js>, f: Function<'js>, names: Opt<Value<'js>>| {
                let names = names_arg(&ctx, names)?;
                s.borrow_mut().flow_handler = Some(Handler {
                    function: Persistent::save(&ctx, f),
                    names,
                });
                // The names decide what the sender hands the script thread.
                changed(&mut c.borrow_mut());
                Ok::<_, rquickjs::Error>(())
            },
        )?,
    )?;

    let s = Rc::clone(script);
    let c = Rc::clone(common);
    g.set(
        "setEventHandler",
        Function::new(
            ctx.clone(),
            move |ctx: Ctx<'js>, f: Function<'js>, names: Opt<Value<'js>>| {
                let names = names_arg(&ctx, names)?;
                s.borrow_mut().event_handler = Some(Handler {
                    function: Persistent::save(&ctx, f),
                    names,
                });
                // The names decide what the sender hands the script thread.
                changed(&mut c.borrow_mut());
                Ok::<_, rquickjs::Error>(())
            },
        )?,
    )?;

    let s = Rc::clone(script);
    g.set(
        "setIntervalHandler",
        Function::new(
            ctx.clone(),
            move |ctx: Ctx<'js>, f: Function<'js>, seconds: Opt<f64>| {
                let secs = seconds.0.unwrap_or(1.0);
                if !secs.is_finite() || secs <= 0.0 {
                    return Err(throw(&ctx, "setIntervalHandler: seconds must be > 0"));
                }
                let every = Duration::from_secs_f64(secs.min(86_400.0)).max(MIN_INTERVAL);
                s.borrow_mut().interval = Some(IntervalHandler {
                    function: Persistent::save(&ctx, f),
                    every,
                    next: Instant::now() + every,
                });
                Ok(())
            },
        )?,
    )?;

    let c = Rc::clone(common);
    g.set(
        "syslog",
        Function::new(
            ctx.clone(),
            move |ctx: Ctx<'js>,
                  host: String,
                  port: Value<'js>,
                  facility: Value<'js>,
                  severity: Value<'js>,
                  msg: Value<'js>| {
                let port = int_arg(&ctx, &port, "syslog: port", 1..=65535)? as u16;
                let facility = int_arg(&ctx, &facility, "syslog: facility", 0..=23)? as u8;
                let severity = int_arg(&ctx, &severity, "syslog: severity", 0..=7)? as u8;
                let mut c = c.borrow_mut();
                let mut line = c.syslog.begin(facility, severity);
                if let Some(obj) = msg.as_object().filter(|_| !msg.is_function()) {
                    write_pairs(&ctx, obj, &mut line)?;
                } else {
                    line.extend_from_slice(text_of(&ctx, &msg)?.as_bytes());
                }
                c.syslog.push(&host, port, line);
                Ok::<_, rquickjs::Error>(())
            },
        )?,
    )?;

    for (name, level) in [
        ("logInfo", "INFO"),
        ("logWarning", "WARNING"),
        ("logSevere", "SEVERE"),
    ] {
        let s = Rc::clone(script);
        g.set(
            name,
            Function::new(ctx.clone(), move |ctx: Ctx<'js>, msg: Value<'js>| {
                let text = text_of(&ctx, &msg)?;
                let mut s = s.borrow_mut();
                let PerScript { file, log, .. } = &mut *s;
                log.log(file, level, &text);
                Ok::<_, rquickjs::Error>(())
            })?,
        )?;
    }

    let c = Rc::clone(common);
    g.set(
        "getSystemProperty",
        Function::new(ctx.clone(), move |ctx: Ctx<'js>, name: String| {
            // sFlow-RT (Java's System.getProperty) gives null for a missing property.
            match c.borrow().properties.get(&name) {
                Some(v) => rquickjs::String::from_str(ctx, v).map(Value::from),
                None => Ok(Value::new_null(ctx)),
            }
        })?,
    )?;
    Ok(())
}

/// `key=value` pairs of `obj`'s own enumerable properties, in their order. String keys
/// and values are read in place (no copy); other values as `String(v)`.
fn write_pairs<'js>(ctx: &Ctx<'js>, obj: &Object<'js>, line: &mut Vec<u8>) -> rquickjs::Result<()> {
    let mut first = true;
    for prop in obj.props::<rquickjs::String<'js>, Value<'js>>() {
        let (k, v) = prop?;
        let k = k.to_cstring()?;
        match v.as_string() {
            Some(s) => {
                let s = s.clone().to_cstring()?;
                SyslogOut::pair(line, first, k.as_str(), s.as_str());
            }
            None => SyslogOut::pair(line, first, k.as_str(), &text_of(ctx, &v)?),
        }
        first = false;
    }
    Ok(())
}
