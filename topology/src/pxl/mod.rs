//! The PxL front end: a script (Python syntax, Pixie's `px` module) to a
//! checked logical plan. Nothing is planned or deployed when this fails:
//! the error names the file, line and column, with the source line and a
//! caret under the construct at fault.
//!
//! ```
//! use loupe_topology::pxl::{compile, Options};
//! let src = "import px\ndf = px.DataFrame('http_events', start_time='-5m')\npx.display(df[df.resp_status >= 500], 'errors')\n";
//! let plan = compile(src, &Options { file: "e.pxl".into(), ..Options::default() }).unwrap();
//! assert_eq!(plan.sinks[0].name, "errors");
//! let err = compile("import px\npx.DataFrame('nope')\n", &Options::default()).unwrap_err();
//! assert!(err.to_string().contains("unknown table \"nope\""));
//! ```

pub(crate) mod ast;
pub mod bundle;
mod compile;
mod error;
mod lib;
pub(crate) mod parse;

pub use compile::{Failed, Options, parse_relative};
pub use error::{CompileError, Span};

use crate::plan::Plan;

/// The largest script accepted (Pixie's largest bundled script is about
/// 20 KiB).
pub const MAX_SCRIPT_BYTES: usize = 1 << 20;

/// Stack of the thread a script compiles on: the parser's syntax tree of a
/// hostile script can be as deep as the script is long, and dropping it
/// recurses that deep; reserved, not used, by ordinary scripts.
const COMPILE_STACK: usize = 256 << 20;

/// Compiles `source` to a logical plan with at least one sink.
pub fn compile(source: &str, opts: &Options) -> Result<Plan, CompileError> {
    compile_with_warnings(source, opts).map(|(plan, _)| plan)
}

/// [`compile`], and what was accepted with a warning (a missing comma
/// between keyword arguments, as Pixie's parser accepts), each formatted
/// as an error is: file, line, column, the line and a caret.
pub fn compile_with_warnings(
    source: &str,
    opts: &Options,
) -> Result<(Plan, Vec<String>), CompileError> {
    compile_bundle(source, opts).map(|(plan, warnings, _)| (plan, warnings))
}

/// [`compile_with_warnings`] for a bundle's functions (`opts.exec`): the
/// plan of those that compiled, the warnings, and those that did not, by
/// the table each would have made. An error outside them (the top level)
/// is the whole script's.
pub fn compile_bundle(
    source: &str,
    opts: &Options,
) -> Result<(Plan, Vec<String>, Failed), CompileError> {
    if source.len() > MAX_SCRIPT_BYTES {
        return Err(CompileError::at(
            &opts.file,
            source,
            Span { start: 0, end: 0 },
            format!(
                "a script of {} bytes; at most {MAX_SCRIPT_BYTES}",
                source.len()
            ),
        ));
    }
    let work = || {
        let (module, warned) = parse::parse_lenient(source)
            .map_err(|(span, msg)| CompileError::at(&opts.file, source, span, msg))?;
        let warnings = warned
            .into_iter()
            .map(|(span, msg)| {
                format!(
                    "warning: {}",
                    CompileError::at(&opts.file, source, span, msg)
                )
            })
            .collect();
        compile::Compiler::new(source, opts)
            .run(&module)
            .map(|(p, failed)| (p, warnings, failed))
    };
    std::thread::scope(|s| {
        match std::thread::Builder::new()
            .name("pxl-compile".into())
            .stack_size(COMPILE_STACK)
            .spawn_scoped(s, work)
        {
            Ok(t) => t.join().unwrap_or_else(|p| std::panic::resume_unwind(p)),
            // No thread to be had: compile here (ordinary scripts are shallow).
            Err(_) => work(),
        }
    })
}
