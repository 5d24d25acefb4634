//! The PxL front end: a script (Python syntax, Pixie's `px` module) to a
//! checked logical plan. Nothing is planned or deployed when this fails:
//! the error names the file, line and column, with the source line and a
//! caret under the construct at fault.
//!
//! ```
//! use loupe_topology::pxl::{compile, Options};
//! let src = "import px\ndf = px.DataFrame('http_events', start_time='-5m')\npx.display(df[df.resp_status >= 500], 'errors')\n";
//! let plan = compile(src, &Options { file: "e.pxl".into(), now_ns: 0, args: vec![] }).unwrap();
//! assert_eq!(plan.sinks[0].name, "errors");
//! let err = compile("import px\npx.DataFrame('nope')\n", &Options::default()).unwrap_err();
//! assert!(err.to_string().contains("unknown table \"nope\""));
//! ```

mod ast;
mod compile;
mod error;
mod parse;

pub use compile::{Options, parse_relative};
pub use error::{CompileError, Span};

use crate::plan::Plan;

/// Compiles `source` to a logical plan with at least one sink.
pub fn compile(source: &str, opts: &Options) -> Result<Plan, CompileError> {
    let module = parse::parse(source)
        .map_err(|(span, msg)| CompileError::at(&opts.file, source, span, msg))?;
    compile::Compiler::new(source, opts).run(&module)
}
