//! `loyalty check`: validate and lint program files.

use std::path::PathBuf;

use serde_json::json;

use crate::{input, InputError, Outcome};

pub fn run(paths: &[PathBuf], deny_warnings: bool, as_json: bool) -> Result<Outcome, InputError> {
    let (mut invalid, mut warned) = (0, 0);
    for path in paths {
        let text = match input::read(path) {
            Ok(text) => text,
            Err(InputError(e)) => {
                report_invalid(path, &e, as_json);
                invalid += 1;
                continue;
            }
        };
        let program = match input::load(path, &text) {
            Ok(p) => p,
            Err(e) => {
                report_invalid(path, &e, as_json);
                invalid += 1;
                continue;
            }
        };
        let warnings = program.lint();
        let spec = program.spec();
        let located: Vec<(Option<(usize, usize)>, &loyalty::Warning)> =
            warnings.iter().map(|w| (input::locate_toml(&text, &w.path), w)).collect();
        if as_json {
            let list: Vec<_> = located
                .iter()
                .map(|(at, w)| {
                    json!({"code": w.code, "path": w.path, "what": w.what, "id": w.id, "message": w.message,
                           "line": at.map(|a| a.0), "column": at.map(|a| a.1)})
                })
                .collect();
            out!("{}", json!({"file": path.display().to_string(), "ok": true, "program": spec.id, "warnings": list}));
        } else {
            let tiers = spec.tiers.as_ref().map_or(0, |t| t.levels.len());
            out!(
                "ok       {}: program '{}'{} — {} earn rules, {} burn rules, {} tier levels, {} rewards, {} warnings",
                path.display(),
                spec.id,
                if spec.name.is_empty() { String::new() } else { format!(" ({})", spec.name) },
                spec.earn.len(),
                spec.burn.len(),
                tiers,
                spec.rewards.len(),
                warnings.len()
            );
            for (at, w) in &located {
                let at = at.map(|(l, c)| format!(":{l}:{c}")).unwrap_or_default();
                out!("warning  {}{at}: {w}", path.display());
            }
        }
        if !warnings.is_empty() {
            warned += 1;
        }
    }
    if invalid > 0 {
        return Err(InputError(format!("{invalid} of {} program files are invalid", paths.len())));
    }
    Ok(if deny_warnings && warned > 0 { Outcome::Findings } else { Outcome::Ok })
}

fn report_invalid(path: &std::path::Path, error: &str, as_json: bool) {
    if as_json {
        out!("{}", json!({"file": path.display().to_string(), "ok": false, "error": error}));
    } else {
        out!("invalid  {error}");
    }
}
