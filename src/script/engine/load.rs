//! Loading one script: its own context with the sFlow-RT functions bound, the load-time
//! check of the functions it calls ([`super::super::scan`]), its top level run under
//! [`LOAD_TIMEOUT`], and an error that names the file and line the way an operator
//! reads it (`FILE:LINE: Kind: message`).

use std::cell::RefCell;
use std::path::PathBuf;
use std::rc::Rc;
use std::time::Duration;

use rquickjs::{CatchResultExt, CaughtError, Context, Ctx, Runtime};

use super::deadline::Deadline;
use crate::script::api::{self, Common, PerScript, RateLog, SUPPORTED};
use crate::script::scan::scan;

/// Longest a script's top level may run when it loads.
const LOAD_TIMEOUT: Duration = Duration::from_secs(10);

/// One loaded script.
pub(super) struct Script {
    pub(super) ctx: Context,
    pub(super) state: Rc<RefCell<PerScript>>,
}

impl Drop for Script {
    fn drop(&mut self) {
        // The handlers hold JavaScript functions, and the functions (through their
        // closures) hold this state: release the functions first, so the context and then
        // the runtime are freed with nothing still referenced.
        if let Ok(mut s) = self.state.try_borrow_mut() {
            s.flow_handler = None;
            s.event_handler = None;
            s.interval = None;
        }
    }
}

/// `FILE:LINE: message` of an error a script's load raised.
pub(super) fn describe(file: &str, err: CaughtError<'_>) -> String {
    match err {
        CaughtError::Exception(ex) => {
            let message = ex.message().unwrap_or_default();
            let stack = ex.stack().unwrap_or_default();
            let line = line_in(&stack, file).or_else(|| {
                ex.get::<_, i32>("lineNumber")
                    .ok()
                    .map(|l| l.max(0) as usize)
            });
            let kind = ex
                .get::<_, String>("name")
                .unwrap_or_else(|_| "Error".into());
            match line {
                Some(l) => format!("{file}:{l}: {kind}: {message}"),
                None => format!("{file}: {kind}: {message}"),
            }
        }
        CaughtError::Value(v) => {
            let text = v
                .as_string()
                .and_then(|s| s.to_string().ok())
                .unwrap_or_else(|| format!("{v:?}"));
            format!("{file}: uncaught exception: {text}")
        }
        CaughtError::Error(e) => format!("{file}: {e}"),
    }
}

/// The first `FILE:LINE` in a QuickJS stack trace.
fn line_in(stack: &str, file: &str) -> Option<usize> {
    let needle = format!("{file}:");
    let at = stack.find(&needle)? + needle.len();
    let digits: String = stack[at..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().ok()
}

pub(super) fn load_script(
    rt: &Runtime,
    file: &PathBuf,
    common: &Rc<RefCell<Common>>,
    deadline: &Deadline,
) -> Result<Script, String> {
    let name = file.display().to_string();
    let src = std::fs::read_to_string(file).map_err(|e| format!("{name}: cannot read: {e}"))?;
    let ctx = Context::full(rt).map_err(|e| format!("{name}: cannot create a context: {e}"))?;
    let state = Rc::new(RefCell::new(PerScript {
        file: name.clone(),
        flow_handler: None,
        event_handler: None,
        interval: None,
        log: RateLog::default(),
    }));
    // Made before the script runs, so that on any error its drop releases what the
    // script registered before the context goes.
    let script = Script { ctx, state };
    let state = &script.state;
    script.ctx.with(|ctx| -> Result<(), String> {
        api::install(&ctx, common, state).map_err(|e| format!("{name}: {e}"))?;
        // Before the top level runs, so a call at the top level is refused by name too.
        check_calls(&ctx, &name, &src)?;
        let mut opts = rquickjs::context::EvalOptions::default();
        opts.global = true;
        opts.strict = false;
        opts.filename = Some(name.clone());
        deadline.arm(LOAD_TIMEOUT);
        let result = ctx
            .eval_with_options::<(), _>(src.as_bytes(), opts)
            .catch(&ctx);
        if deadline.disarm() {
            return Err(format!(
                "{name}: its top level ran longer than {} s and was interrupted",
                LOAD_TIMEOUT.as_secs()
            ));
        }
        result.map_err(|e| describe(&name, e))
    })?;
    Ok(script)
}

/// Refuse calls of functions neither flowsift nor the script defines (see [`super::scan`]).
fn check_calls(ctx: &Ctx<'_>, file: &str, src: &str) -> Result<(), String> {
    let found = scan(src);
    let globals = ctx.globals();
    for call in &found.calls {
        if found.other.contains(&call.name)
            || globals.contains_key(call.name.as_str()).unwrap_or(false)
        {
            continue;
        }
        return Err(format!(
            "{file}:{}: {}() is not supported: it is neither one of flowsift's sFlow-RT functions nor defined by the script (supported: {})",
            call.line,
            call.name,
            SUPPORTED.join(", ")
        ));
    }
    Ok(())
}
