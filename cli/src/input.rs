//! Reading inputs, and saying exactly where one is wrong.

use std::path::Path;

use loyalty::{Error, Program};

use crate::InputError;

/// Reads a file (`-` is standard input).
pub fn read(path: &Path) -> Result<String, InputError> {
    if path == Path::new("-") {
        return std::io::read_to_string(std::io::stdin()).map_err(|e| InputError(format!("standard input: {e}")));
    }
    std::fs::read_to_string(path).map_err(|e| InputError(format!("{}: {e}", path.display())))
}

/// Loads a program file: JSON if it is named `.json` or starts with `{`, TOML otherwise.
pub fn program(path: &Path) -> Result<Program, InputError> {
    let text = read(path)?;
    load(path, &text).map_err(InputError)
}

/// Parses program text, or says `file:line:column: what` of the first problem.
pub fn load(path: &Path, text: &str) -> Result<Program, String> {
    let json = path.extension().is_some_and(|e| e == "json") || text.trim_start().starts_with('{');
    let loaded = if json { Program::from_json_str(text) } else { Program::from_toml_str(text) };
    loaded.map_err(|e| where_(path, text, json, &e))
}

/// `file:line:column: message` for a program error, the line found from the
/// field path where the parser did not give one.
pub fn where_(path: &Path, text: &str, json: bool, e: &Error) -> String {
    let file = path.display();
    match e {
        Error::ProgramSyntax { line, column, message } => format!("{file}:{line}:{column}: {message}"),
        Error::ScriptSyntax { path: field, .. } | Error::ProgramInvalid { path: field, .. } => {
            let at = if json { None } else { locate_toml(text, field) };
            match at {
                Some((line, column)) => format!("{file}:{line}:{column}: {e}"),
                None => format!("{file}: {e}"),
            }
        }
        _ => format!("{file}: {e}"),
    }
}

/// One step of a field path: `earn[2].when.categories[0]`.
enum Step<'a> {
    Key(&'a str),
    Index(usize),
}

fn steps(path: &str) -> Vec<Step<'_>> {
    let mut out = Vec::new();
    for part in path.split('.') {
        let (key, rest) = part.split_once('[').map_or((part, ""), |(k, r)| (k, r));
        if !key.is_empty() {
            out.push(Step::Key(key));
        }
        for index in rest.split('[') {
            if let Ok(i) = index.trim_end_matches(']').parse() {
                out.push(Step::Index(i));
            }
        }
    }
    out
}

/// The line and column of the deepest part of `path` present in the TOML text.
pub fn locate_toml(text: &str, path: &str) -> Option<(usize, usize)> {
    let doc = toml_edit::ImDocument::parse(text).ok()?;
    let mut item = doc.as_item();
    let mut found = None;
    for step in steps(path) {
        let next = match step {
            Step::Key(k) => item.get(k),
            Step::Index(i) => item.get(i),
        };
        let Some(next) = next else { break };
        if let Some(span) = next.span() {
            found = Some(span.start);
        }
        item = next;
    }
    let offset = found?;
    let before = text.get(..offset)?;
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    Some((line, column))
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str =
        "id = \"p\"\n\n[[earn]]\nid = \"a\"\nwhen.categories = [\"x\", \"y\"]\n\n[[earn]]\nid = \"b\"\npoints = 0\n";

    #[test]
    fn paths_are_found_in_toml() {
        assert_eq!(locate_toml(TEXT, "earn[1].points"), Some((9, 10)));
        assert_eq!(locate_toml(TEXT, "earn[0].when.categories[1]"), Some((5, 25)));
        // A field that is not written: the deepest part that is.
        assert_eq!(locate_toml(TEXT, "earn[1].caps.per_day").map(|(l, _)| l), Some(7));
        assert_eq!(locate_toml(TEXT, "nothing"), None);
    }
}
