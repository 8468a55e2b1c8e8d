//! Time is read through [`Clock`] so tests can move it; it is written on the wire as
//! ISO-8601 UTC with milliseconds (`2026-03-11T02:00:00.000Z`).

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

/// Milliseconds since the Unix epoch, UTC.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(pub i64);

impl Timestamp {
    pub fn millis(self) -> i64 {
        self.0
    }

    pub fn plus_seconds(self, s: i64) -> Timestamp {
        Timestamp(self.0 + s * 1000)
    }

    /// `2026-03-11T02:00:00.000Z`
    pub fn to_iso(self) -> String {
        let ms = self.0.rem_euclid(1000);
        let secs = self.0.div_euclid(1000);
        let days = secs.div_euclid(86_400);
        let rem = secs.rem_euclid(86_400);
        let (y, m, d) = civil_from_days(days);
        format!(
            "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{ms:03}Z",
            rem / 3600,
            (rem % 3600) / 60,
            rem % 60
        )
    }

    /// [`Timestamp::parse_iso`], and also any `±HH:MM` offset, shifted to UTC (for inputs
    /// that are times of events, such as a conversation's).
    pub fn parse_iso_with_offset(s: &str) -> Option<Timestamp> {
        if let Some(t) = Timestamp::parse_iso(s) {
            return Some(t);
        }
        let s = s.trim();
        let (base, offset) = s.split_at(s.len().checked_sub(6)?);
        let sign = match offset.as_bytes().first()? {
            b'+' => 1,
            b'-' => -1,
            _ => return None,
        };
        let (h, m) = offset[1..].split_once(':')?;
        let minutes = h.parse::<i64>().ok()? * 60 + m.parse::<i64>().ok()?;
        let t = Timestamp::parse_iso(&format!("{base}Z"))?;
        Some(Timestamp(t.0 - sign * minutes * 60_000))
    }

    /// Parses `YYYY-MM-DDTHH:MM:SS[.fff]Z` (also `+00:00`). Other offsets are refused
    /// rather than guessed.
    pub fn parse_iso(s: &str) -> Option<Timestamp> {
        let s = s.trim();
        let body = s.strip_suffix('Z').or_else(|| s.strip_suffix("+00:00"))?;
        let (date, time) = body.split_once('T')?;
        let mut dp = date.split('-');
        let y: i64 = dp.next()?.parse().ok()?;
        let m: u32 = dp.next()?.parse().ok()?;
        let d: u32 = dp.next()?.parse().ok()?;
        if dp.next().is_some() || !(1..=12).contains(&m) || !(1..=31).contains(&d) {
            return None;
        }
        let (hms, frac) = match time.split_once('.') {
            Some((a, b)) => (a, b),
            None => (time, "0"),
        };
        let mut tp = hms.split(':');
        let hh: i64 = tp.next()?.parse().ok()?;
        let mm: i64 = tp.next()?.parse().ok()?;
        let ss: i64 = tp.next()?.parse().ok()?;
        if tp.next().is_some() || hh > 23 || mm > 59 || ss > 60 {
            return None;
        }
        if frac.is_empty() || !frac.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let ms: i64 = format!("{:0<3}", &frac[..frac.len().min(3)]).parse().ok()?;
        let days = days_from_civil(y, m, d);
        Some(Timestamp(
            ((days * 86_400) + hh * 3600 + mm * 60 + ss) * 1000 + ms,
        ))
    }
}

// Howard Hinnant's civil calendar algorithms.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let m = m as i64;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The one source of "now". `system()` reads the wall clock; `manual()` is moved by tests.
#[derive(Clone, Debug)]
pub struct Clock {
    manual: Option<Arc<AtomicI64>>,
}

impl Clock {
    pub fn system() -> Clock {
        Clock { manual: None }
    }

    pub fn manual(start: Timestamp) -> Clock {
        Clock {
            manual: Some(Arc::new(AtomicI64::new(start.0))),
        }
    }

    pub fn now(&self) -> Timestamp {
        match &self.manual {
            Some(t) => Timestamp(t.load(Ordering::Relaxed)),
            None => Timestamp(
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_millis() as i64)
                    .unwrap_or(0),
            ),
        }
    }

    /// Moves a manual clock forward; a system clock ignores it.
    pub fn advance_millis(&self, ms: i64) {
        if let Some(t) = &self.manual {
            t.fetch_add(ms, Ordering::Relaxed);
        }
    }
}

/// On the wire a timestamp is its ISO-8601 string.
impl serde::Serialize for Timestamp {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_iso())
    }
}

/// Read as it is written: ISO-8601 UTC with milliseconds.
impl<'de> serde::Deserialize<'de> for Timestamp {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Timestamp, D::Error> {
        let s = String::deserialize(d)?;
        Timestamp::parse_iso(&s)
            .ok_or_else(|| serde::de::Error::custom(format!("`{s}` is not an ISO-8601 UTC time")))
    }
}

impl utoipa::PartialSchema for Timestamp {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{KnownFormat, ObjectBuilder, SchemaFormat, Type};
        ObjectBuilder::new()
            .schema_type(Type::String)
            .format(Some(SchemaFormat::KnownFormat(KnownFormat::DateTime)))
            .examples([serde_json::json!("2026-03-11T02:00:00.000Z")])
            .into()
    }
}

impl utoipa::ToSchema for Timestamp {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iso_round_trips() {
        let t = Timestamp::parse_iso("2026-03-11T02:00:00.000Z").unwrap();
        assert_eq!(t.to_iso(), "2026-03-11T02:00:00.000Z");
        let t = Timestamp::parse_iso("2024-02-29T23:59:59.5Z").unwrap();
        assert_eq!(t.to_iso(), "2024-02-29T23:59:59.500Z");
        assert_eq!(Timestamp(0).to_iso(), "1970-01-01T00:00:00.000Z");
        assert!(Timestamp::parse_iso("2026-13-01T00:00:00Z").is_none());
        assert!(Timestamp::parse_iso("2026-01-01T00:00:00+02:00").is_none());
        assert!(Timestamp::parse_iso("yesterday").is_none());
        assert_eq!(
            Timestamp::parse_iso_with_offset("2026-03-05T10:00:00+01:00"),
            Timestamp::parse_iso("2026-03-05T09:00:00Z")
        );
        assert_eq!(
            Timestamp::parse_iso_with_offset("2026-03-05T10:00:00-05:30"),
            Timestamp::parse_iso("2026-03-05T15:30:00Z")
        );
        assert!(Timestamp::parse_iso_with_offset("2026-03-05T10:00:00").is_none());
    }

    #[test]
    fn manual_clock_moves() {
        let c = Clock::manual(Timestamp(1000));
        c.advance_millis(500);
        assert_eq!(c.now(), Timestamp(1500));
    }
}
