//! `loyalty quote`: a dry run of a basket.

use std::path::Path;

use chrono::{DateTime, Utc};
use loyalty::{format_points, Basket, Member};

use crate::{input, InputError, Outcome};

pub fn run(
    program_path: &Path,
    basket_path: &Path,
    member_path: Option<&Path>,
    at: Option<&str>,
    as_json: bool,
) -> Result<Outcome, InputError> {
    let program = input::program(program_path)?;
    let text = input::read(basket_path)?;
    let basket: Basket = serde_json::from_str(&text)
        .map_err(|e| InputError(format!("{}:{}:{}: {e}", basket_path.display(), e.line(), e.column().max(1))))?;
    let at: Option<DateTime<Utc>> = at
        .map(|t| DateTime::parse_from_rfc3339(t).map(|t| t.with_timezone(&Utc)))
        .transpose()
        .map_err(|e| InputError(format!("--at: {e} (write an RFC 3339 instant like 2026-12-15T13:30:00Z)")))?;
    let member = match member_path {
        Some(path) => {
            Member::from_json_str(&input::read(path)?).map_err(|e| InputError(format!("{}: {e}", path.display())))?
        }
        None => program
            .enroll("quote", at.unwrap_or_else(Utc::now), Default::default())
            .map_err(|e| InputError(format!("--at: {e}")))?,
    };
    let at = at.unwrap_or_else(|| member.clock());
    let quote =
        program.quote(&member, &basket, at).map_err(|e| InputError(format!("{}: {e}", basket_path.display())))?;
    if as_json {
        out!("{}", serde_json::to_string(&quote)?);
        return Ok(Outcome::Ok);
    }
    let (scale, currency) = (program.spec().points.scale, &program.spec().currency);
    out!("earns      {} points", format_points(quote.points, scale));
    for rule in &quote.explanations {
        out!("  why      {rule}");
    }
    out!("available  {} points", format_points(quote.available, scale));
    out!("may pay    {} points, worth {} {currency}", format_points(quote.max_burn, scale), quote.max_burn_value);
    Ok(Outcome::Ok)
}
