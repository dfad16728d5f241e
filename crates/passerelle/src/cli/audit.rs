//! `passerelle audit`: reading the audit trail.

use anyhow::{Context as _, bail};
use passerelle_store::AuditEvent;

/// `--since`: a duration back from `now` (`90s`, `30m`, `24h`, `7d`) or a date (`2026-11-27`,
/// midnight UTC) or an RFC 3339 time. Returns Unix seconds.
pub fn parse_since(text: &str, now: i64) -> anyhow::Result<i64> {
    let t = text.trim();
    let is_duration = t.len() >= 2
        && t[..t.len() - 1].bytes().all(|b| b.is_ascii_digit())
        && t.ends_with(|c: char| c.is_ascii_alphabetic());
    if is_duration && let Some(unit) = t.chars().last() {
        let amount: i64 = t[..t.len() - 1]
            .parse()
            .with_context(|| format!("--since {text:?}: a number then s, m, h or d"))?;
        let seconds = match unit {
            's' => 1,
            'm' => 60,
            'h' => 3600,
            'd' => 86_400,
            _ => bail!("--since {text:?}: the unit must be s, m, h or d"),
        };
        return Ok(now - amount.saturating_mul(seconds));
    }
    let rfc3339 = time::format_description::well_known::Rfc3339;
    if let Ok(at) = time::OffsetDateTime::parse(t, &rfc3339) {
        return Ok(at.unix_timestamp());
    }
    let day = time::macros::format_description!("[year]-[month]-[day]");
    if let Ok(date) = time::Date::parse(t, &day) {
        return Ok(date.midnight().assume_utc().unix_timestamp());
    }
    bail!(
        "--since {text:?}: use a duration (24h, 7d) or a date or time (2026-11-27, 2026-11-27T08:00:00Z)"
    )
}

pub fn when(at: i64) -> String {
    let rfc3339 = time::format_description::well_known::Rfc3339;
    time::OffsetDateTime::from_unix_timestamp(at)
        .ok()
        .and_then(|t| t.format(&rfc3339).ok())
        .unwrap_or_else(|| at.to_string())
}

/// One line per event: time, kind, outcome, client, service, subject, detail.
pub fn to_table(events: &[AuditEvent]) -> String {
    if events.is_empty() {
        return "No audit events in this period.\n".into();
    }
    let mut out = String::new();
    for e in events {
        out.push_str(&format!(
            "{}  {:<26} {:<24} {:<24} {:<15} {:<22} {}\n",
            when(e.at),
            e.kind,
            e.outcome,
            e.client_id.as_deref().unwrap_or("-"),
            e.service.as_deref().unwrap_or("-"),
            e.subject.as_deref().unwrap_or("-"),
            e.detail.as_deref().unwrap_or(""),
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn since_takes_durations_dates_and_times() {
        let now = 1_800_000_000;
        assert_eq!(parse_since("24h", now).expect("ok"), now - 86_400);
        assert_eq!(parse_since("7d", now).expect("ok"), now - 7 * 86_400);
        assert_eq!(parse_since("90s", now).expect("ok"), now - 90);
        assert_eq!(parse_since("2026-11-27", now).expect("ok"), 1_795_737_600);
        assert_eq!(
            parse_since("2026-11-27T08:00:00Z", now).expect("ok"),
            1_795_737_600 + 8 * 3600
        );
        for bad in ["", "yesterday", "5y", "h", "2026-13-01"] {
            assert!(parse_since(bad, now).is_err(), "{bad}");
        }
    }
}
