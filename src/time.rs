//! Time: periods, local calendar arithmetic in the program's zone, weekdays
//! and time-of-day windows.
//!
//! Instants are `DateTime<Utc>`. Calendar logic runs in the program's IANA
//! zone. A local time that does not exist (a DST gap) resolves to the first
//! instant after the gap; a local time that exists twice (a DST overlap)
//! resolves to the earlier instant.

use std::fmt;

use chrono::{DateTime, Datelike, Duration, NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Timelike, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

/// A length of time: exact minutes or hours, or calendar days or months in
/// the program's time zone. Written as a one-field table, e.g.
/// `{ hours = 24 }`, `{ days = 14 }`, `{ months = 6 }`.
///
/// ```
/// use loyalty::Period;
/// let p: Period = serde_json::from_str(r#"{"days": 14}"#).unwrap();
/// assert_eq!(p, Period::Days(14));
/// assert!(serde_json::from_str::<Period>(r#"{"days": 1, "hours": 2}"#).is_err());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "PeriodRepr", into = "PeriodRepr")]
pub enum Period {
    /// Exact minutes.
    Minutes(u32),
    /// Exact hours (3 600 s each, whatever the zone does).
    Hours(u32),
    /// Calendar days: the same local time N days later.
    Days(u32),
    /// Calendar months: the same local day and time N months later, clamped
    /// to the month's last day (31 Jan + 1 month = 28/29 Feb).
    Months(u32),
}

#[derive(Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct PeriodRepr {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    minutes: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    hours: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    days: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    months: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    years: Option<u32>,
}

impl TryFrom<PeriodRepr> for Period {
    type Error = String;
    fn try_from(r: PeriodRepr) -> Result<Self, String> {
        let set = [r.minutes, r.hours, r.days, r.months, r.years].iter().filter(|v| v.is_some()).count();
        if set != 1 {
            return Err("a period has exactly one of minutes, hours, days, months, years".into());
        }
        let period = match r {
            PeriodRepr { minutes: Some(n), .. } => Period::Minutes(n),
            PeriodRepr { hours: Some(n), .. } => Period::Hours(n),
            PeriodRepr { days: Some(n), .. } => Period::Days(n),
            PeriodRepr { months: Some(n), .. } => Period::Months(n),
            PeriodRepr { years: Some(n), .. } => Period::Months(n.checked_mul(12).ok_or("too many years")?),
            _ => return Err("a period has exactly one of minutes, hours, days, months, years".into()),
        };
        if period.count() == 0 {
            return Err("a period must be longer than zero".into());
        }
        // 200 years is more than any loyalty rule needs and keeps every sum in range.
        if period.approx_days() > 200 * 366 {
            return Err("a period may be at most 200 years".into());
        }
        Ok(period)
    }
}

impl From<Period> for PeriodRepr {
    fn from(p: Period) -> Self {
        let mut r = PeriodRepr::default();
        match p {
            Period::Minutes(n) => r.minutes = Some(n),
            Period::Hours(n) => r.hours = Some(n),
            Period::Days(n) => r.days = Some(n),
            Period::Months(n) => r.months = Some(n),
        }
        r
    }
}

impl Period {
    pub(crate) fn count(self) -> u32 {
        match self {
            Period::Minutes(n) | Period::Hours(n) | Period::Days(n) | Period::Months(n) => n,
        }
    }

    fn approx_days(self) -> u64 {
        let n = u64::from(self.count());
        match self {
            Period::Minutes(_) => n / 1440,
            Period::Hours(_) => n / 24,
            Period::Days(_) => n,
            Period::Months(_) => n * 31,
        }
    }

    /// The instant this period after `at`, calendar units counted in `zone`.
    /// `None` only past the year 262 000.
    ///
    /// ```
    /// use loyalty::Period;
    /// use chrono::{TimeZone, Utc};
    /// let at = Utc.with_ymd_and_hms(2027, 1, 31, 9, 0, 0).unwrap();
    /// let later = Period::Months(1).after(at, chrono_tz::Europe::Moscow).unwrap();
    /// assert_eq!(later, Utc.with_ymd_and_hms(2027, 2, 28, 9, 0, 0).unwrap());
    /// ```
    pub fn after(self, at: DateTime<Utc>, zone: Tz) -> Option<DateTime<Utc>> {
        self.after_in(Moment::new(at), zone).map(|m| m.utc)
    }

    /// The instant this period before `at` (used for the late window).
    pub(crate) fn before(self, at: DateTime<Utc>, zone: Tz) -> Option<DateTime<Utc>> {
        self.before_in(Moment::new(at), zone).map(|m| m.utc)
    }

    /// The earliest and the latest instant [`Period::before`] can give for
    /// an instant of Unix time `at` (seconds) in any zone, as Unix times,
    /// found without the zone: exact for minutes and hours; for days and
    /// months, bounds from the period's shortest and longest length (28 and
    /// 31 days a month), a zone offset (under a day, as `chrono` bounds
    /// every offset) on either side and a DST gap (under 25 hours, the
    /// longest `resolve_in` looks across) after.
    pub(crate) fn before_bounds(self, at: i64) -> (i64, i64) {
        const DAY: i64 = 86_400;
        let (shortest, longest) = match self {
            Period::Minutes(n) => {
                let t = at - 60 * i64::from(n);
                return (t, t);
            }
            Period::Hours(n) => {
                let t = at - 3_600 * i64::from(n);
                return (t, t);
            }
            Period::Days(n) => (i64::from(n) * DAY, i64::from(n) * DAY),
            Period::Months(n) => (28 * i64::from(n) * DAY, 31 * i64::from(n) * DAY),
        };
        // local(at) − length is the local time resolved; the instant is
        // within a day (the offset) of it, or up to 25 h later in a gap,
        // and local(at) is within a day of `at`.
        (at - longest - 2 * DAY, at - shortest + 2 * DAY + 25 * 3_600)
    }

    /// [`Period::after`] on a [`Moment`]: its local time is converted only if
    /// not known yet, and the result's is kept when it comes for free.
    pub(crate) fn after_in(self, at: Moment, zone: Tz) -> Option<Moment> {
        match self {
            Period::Minutes(n) => at.utc.checked_add_signed(Duration::minutes(i64::from(n))).map(Moment::new),
            Period::Hours(n) => at.utc.checked_add_signed(Duration::hours(i64::from(n))).map(Moment::new),
            Period::Days(n) => resolve_in(zone, at.local(zone).checked_add_days(chrono::Days::new(u64::from(n)))?),
            Period::Months(n) => resolve_in(zone, at.local(zone).checked_add_months(chrono::Months::new(n))?),
        }
    }

    /// [`Period::before`] on a [`Moment`].
    pub(crate) fn before_in(self, at: Moment, zone: Tz) -> Option<Moment> {
        match self {
            Period::Minutes(n) => at.utc.checked_sub_signed(Duration::minutes(i64::from(n))).map(Moment::new),
            Period::Hours(n) => at.utc.checked_sub_signed(Duration::hours(i64::from(n))).map(Moment::new),
            Period::Days(n) => resolve_in(zone, at.local(zone).checked_sub_days(chrono::Days::new(u64::from(n)))?),
            Period::Months(n) => resolve_in(zone, at.local(zone).checked_sub_months(chrono::Months::new(n))?),
        }
    }
}

impl fmt::Display for Period {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (n, unit) = match self {
            Period::Minutes(n) => (n, "minute"),
            Period::Hours(n) => (n, "hour"),
            Period::Days(n) => (n, "day"),
            Period::Months(n) => (n, "month"),
        };
        write!(f, "{n} {unit}{}", if *n == 1 { "" } else { "s" })
    }
}

/// An instant and, once known, its local date-time in the program's zone:
/// a conversion costs a zone-table look-up and calendar arithmetic, so what
/// is known is kept rather than converted again.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Moment {
    pub(crate) utc: DateTime<Utc>,
    local: Option<NaiveDateTime>,
}

impl Moment {
    pub(crate) fn new(utc: DateTime<Utc>) -> Moment {
        Moment { utc, local: None }
    }

    /// An instant whose local date-time in the zone is `local`.
    pub(crate) fn with_local(utc: DateTime<Utc>, local: NaiveDateTime) -> Moment {
        Moment { utc, local: Some(local) }
    }

    /// The local date-time in `zone` (the zone the moment was made for).
    pub(crate) fn local(&self, zone: Tz) -> NaiveDateTime {
        match self.local {
            Some(l) => l,
            None => crate::zone::local(zone, self.utc),
        }
    }
}

/// The UTC instant of a local date-time in `zone`: the earlier one in an
/// overlap, the first instant after the gap in a gap.
#[cfg(test)]
pub(crate) fn resolve(zone: Tz, local: NaiveDateTime) -> Option<DateTime<Utc>> {
    resolve_in(zone, local).map(|m| m.utc)
}

/// [`resolve`], with the local date-time of the instant found (which is
/// `local` itself unless `local` falls in a gap).
pub(crate) fn resolve_in(zone: Tz, local: NaiveDateTime) -> Option<Moment> {
    use chrono::LocalResult;
    // Almost every local time exists exactly once: the zone table says so
    // without a search of the zone's history.
    if let Some(utc) = crate::zone::unique_instant(zone, local) {
        return Some(Moment::with_local(utc, local));
    }
    match zone.from_local_datetime(&local) {
        LocalResult::Single(t) => Some(Moment::with_local(t.with_timezone(&Utc), local)),
        LocalResult::Ambiguous(early, _) => Some(Moment::with_local(early.with_timezone(&Utc), local)),
        LocalResult::None => {
            // Gaps start and end on whole quarter hours in every IANA zone,
            // and none is longer than a day (Samoa, 2011).
            let mut probe = local;
            for _ in 0..100 {
                probe = probe.checked_add_signed(Duration::minutes(15))?;
                if let Some(t) = zone.from_local_datetime(&probe).earliest() {
                    // Step back minute by minute to the transition: the instant
                    // before it reads as a local time earlier than the gap.
                    let mut first = t;
                    for _ in 0..15 {
                        let earlier = first - Duration::minutes(1);
                        if earlier.naive_local() < local {
                            break;
                        }
                        first = earlier;
                    }
                    return Some(Moment::with_local(first.with_timezone(&Utc), first.naive_local()));
                }
            }
            None
        }
    }
}

/// The instant a local date starts in `zone`.
pub(crate) fn start_of_day(zone: Tz, date: NaiveDate) -> Option<DateTime<Utc>> {
    start_of_day_in(zone, date).map(|m| m.utc)
}

/// [`start_of_day`] as a [`Moment`], remembered per thread like
/// [`expiry_date`]: expiries rounded to the end of a day, month or year
/// start the same few days for every lot earned in that period. A hit
/// compares four entries instead of resolving a local time (still cheaper
/// than the zone table: without these memos `apply` takes ≈ 670 more
/// instructions on the bench basket).
fn start_of_day_in(zone: Tz, date: NaiveDate) -> Option<Moment> {
    type Memo = [Option<(Tz, NaiveDate, Option<Moment>)>; 4];
    thread_local! {
        static MEMO: std::cell::Cell<(Memo, usize)> = const { std::cell::Cell::new(([None; 4], 0)) };
    }
    MEMO.with(|memo| {
        let (mut entries, next) = memo.get();
        if let Some((_, _, start)) = entries.iter().flatten().find(|(z, d, _)| *z == zone && *d == date) {
            return *start;
        }
        let start = resolve_in(zone, date.and_time(NaiveTime::MIN));
        entries[next] = Some((zone, date, start));
        memo.set((entries, (next + 1) % entries.len()));
        start
    })
}

/// The local date of an instant in `zone`.
pub(crate) fn local_date(zone: Tz, at: DateTime<Utc>) -> NaiveDate {
    crate::zone::local(zone, at).date()
}

/// The UTC date of a Unix second, remembered per thread by day (256 days
/// apart share a slot): a replay or a host applies events over the same
/// weeks again and again, and a conversion divides by the 400-year cycle
/// and the year. Exact: a slot holds what the conversion gave for its day,
/// and every second of a day has that day's date (a day is valid whole or
/// not at all at the calendar's ends, which start and end at midnight).
pub(crate) fn utc_date(secs: i64) -> Option<NaiveDate> {
    const SLOTS: usize = 256;
    thread_local! {
        static MEMO: std::cell::RefCell<[(i64, NaiveDate); SLOTS]> =
            const { std::cell::RefCell::new([(i64::MIN, NaiveDate::MIN); SLOTS]) };
    }
    let day = secs.div_euclid(86_400);
    MEMO.with(|memo| {
        let Ok(mut memo) = memo.try_borrow_mut() else {
            return DateTime::from_timestamp(secs, 0).map(|t| t.date_naive());
        };
        let slot = &mut memo[day.rem_euclid(SLOTS as i64) as usize];
        if slot.0 == day {
            return Some(slot.1);
        }
        let date = DateTime::from_timestamp(secs, 0)?.date_naive();
        *slot = (day, date);
        Some(date)
    })
}

/// [`local_date`] for expiry instants, remembered per thread: expiries
/// rounded to the end of a day, month or year are the same few instants for
/// every lot earned in that period, across members, and each receipt shows
/// the next three. A conversion is a zone-table look-up and calendar
/// arithmetic; a hit compares four entries. Exact: the memo holds what the conversion gave.
pub(crate) fn expiry_date(zone: Tz, at: DateTime<Utc>) -> NaiveDate {
    type Memo = [Option<(Tz, DateTime<Utc>, NaiveDate)>; 4];
    thread_local! {
        static MEMO: std::cell::Cell<(Memo, usize)> = const { std::cell::Cell::new(([None; 4], 0)) };
    }
    MEMO.with(|memo| {
        let (mut entries, next) = memo.get();
        if let Some((_, _, date)) = entries.iter().flatten().find(|(z, t, _)| *z == zone && *t == at) {
            return *date;
        }
        let date = local_date(zone, at);
        entries[next] = Some((zone, at, date));
        memo.set((entries, (next + 1) % entries.len()));
        date
    })
}

/// [`local_date`] of a member's enrolment instant, remembered per thread
/// (one entry): a tier program reads it in every event, and a host or a
/// replay often applies several events of one member in a row. Exact: the
/// memo holds what the conversion gave.
pub(crate) fn enrolment_date(zone: Tz, at: DateTime<Utc>) -> NaiveDate {
    thread_local! {
        static MEMO: std::cell::Cell<Option<(Tz, DateTime<Utc>, NaiveDate)>> = const { std::cell::Cell::new(None) };
    }
    MEMO.with(|memo| match memo.get() {
        Some((z, t, date)) if z == zone && t == at => date,
        _ => {
            let date = local_date(zone, at);
            memo.set(Some((zone, at, date)));
            date
        }
    })
}

/// Where an expiry instant is moved to: the end of its local day, month or
/// year. An end is the first instant of the next day, month or year, because
/// points are usable strictly before their expiry instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RoundTo {
    /// Keep the exact instant.
    #[default]
    None,
    /// The start of the next local day.
    EndOfDay,
    /// The start of the next local month.
    EndOfMonth,
    /// The start of the next local year.
    EndOfYear,
}

impl RoundTo {
    #[cfg(test)]
    pub(crate) fn apply(self, at: DateTime<Utc>, zone: Tz) -> Option<DateTime<Utc>> {
        self.apply_in(Moment::new(at), zone).map(|m| m.utc)
    }

    /// The rounded instant, with its local time when known.
    pub(crate) fn apply_in(self, at: Moment, zone: Tz) -> Option<Moment> {
        if self == RoundTo::None {
            return Some(at);
        }
        let date = at.local(zone).date();
        let next = match self {
            RoundTo::None => return Some(at),
            RoundTo::EndOfDay => date.succ_opt()?,
            RoundTo::EndOfMonth => {
                let (y, m) = if date.month() == 12 { (date.year() + 1, 1) } else { (date.year(), date.month() + 1) };
                NaiveDate::from_ymd_opt(y, m, 1)?
            }
            RoundTo::EndOfYear => NaiveDate::from_ymd_opt(date.year() + 1, 1, 1)?,
        };
        start_of_day_in(zone, next)
    }

    /// `self.apply_in(period.after_in(at, zone)?, zone)`, without resolving
    /// the unrounded local time to an instant when the rounding cannot
    /// depend on it: rounding to the end of a month or year reads only the
    /// local date, and resolving changes that date only for a time in a
    /// DST gap, moving it to the gap's end (`resolve_in` looks at most 25
    /// hours on: two dates at most). Away from the last two days of a
    /// month (year) the rounded instant is the start of the next month
    /// (year) whatever the gap.
    pub(crate) fn apply_after(self, period: Period, at: Moment, zone: Tz) -> Option<Moment> {
        let local = match period {
            Period::Days(n) => at.local(zone).checked_add_days(chrono::Days::new(u64::from(n))),
            Period::Months(n) => at.local(zone).checked_add_months(chrono::Months::new(n)),
            Period::Minutes(_) | Period::Hours(_) => None,
        };
        if let Some(date) = local.map(|l| l.date()) {
            let later = date.checked_add_days(chrono::Days::new(2));
            let next = match self {
                RoundTo::EndOfMonth if later.is_some_and(|l| l.month() == date.month()) => {
                    let (y, m) =
                        if date.month() == 12 { (date.year() + 1, 1) } else { (date.year(), date.month() + 1) };
                    NaiveDate::from_ymd_opt(y, m, 1)
                }
                RoundTo::EndOfYear if later.is_some_and(|l| l.year() == date.year()) => {
                    NaiveDate::from_ymd_opt(date.year() + 1, 1, 1)
                }
                _ => None,
            };
            if let Some(next) = next {
                return start_of_day_in(zone, next);
            }
        }
        self.apply_in(period.after_in(at, zone)?, zone)
    }
}

/// A day of the week, written `"mon"` … `"sun"` (or in full, `"monday"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[allow(missing_docs)]
pub enum Weekday {
    #[serde(alias = "monday")]
    Mon,
    #[serde(alias = "tuesday")]
    Tue,
    #[serde(alias = "wednesday")]
    Wed,
    #[serde(alias = "thursday")]
    Thu,
    #[serde(alias = "friday")]
    Fri,
    #[serde(alias = "saturday")]
    Sat,
    #[serde(alias = "sunday")]
    Sun,
}

impl Weekday {
    pub(crate) fn of(date: NaiveDate) -> Weekday {
        match date.weekday() {
            chrono::Weekday::Mon => Weekday::Mon,
            chrono::Weekday::Tue => Weekday::Tue,
            chrono::Weekday::Wed => Weekday::Wed,
            chrono::Weekday::Thu => Weekday::Thu,
            chrono::Weekday::Fri => Weekday::Fri,
            chrono::Weekday::Sat => Weekday::Sat,
            chrono::Weekday::Sun => Weekday::Sun,
        }
    }

    /// The three-letter name used in program files: `"mon"` … `"sun"`.
    pub(crate) fn short(self) -> &'static str {
        match self {
            Weekday::Mon => "mon",
            Weekday::Tue => "tue",
            Weekday::Wed => "wed",
            Weekday::Thu => "thu",
            Weekday::Fri => "fri",
            Weekday::Sat => "sat",
            Weekday::Sun => "sun",
        }
    }
}

/// A local time of day written `"HH:MM"`.
///
/// ```
/// let t: loyalty::TimeOfDay = serde_json::from_str("\"15:00\"").unwrap();
/// assert_eq!(t.to_string(), "15:00");
/// assert!(serde_json::from_str::<loyalty::TimeOfDay>("\"25:00\"").is_err());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct TimeOfDay {
    minutes: u16,
}

impl TimeOfDay {
    pub(crate) fn of(at: NaiveTime) -> TimeOfDay {
        TimeOfDay { minutes: (at.hour() * 60 + at.minute()) as u16 }
    }
}

impl TryFrom<String> for TimeOfDay {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        let bad = || format!("'{s}' is not a time of day HH:MM (00:00 to 24:00)");
        let (h, m) = s.split_once(':').ok_or_else(bad)?;
        if h.len() != 2 || m.len() != 2 {
            return Err(bad());
        }
        let h: u16 = h.parse().map_err(|_| bad())?;
        let m: u16 = m.parse().map_err(|_| bad())?;
        if m > 59 || h > 24 || (h == 24 && m != 0) {
            return Err(bad());
        }
        Ok(TimeOfDay { minutes: h * 60 + m })
    }
}

impl From<TimeOfDay> for String {
    fn from(t: TimeOfDay) -> String {
        t.to_string()
    }
}

impl fmt::Display for TimeOfDay {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:02}:{:02}", self.minutes / 60, self.minutes % 60)
    }
}

/// A local time-of-day window `[from, until)`. When `from` is later than
/// `until` the window wraps past midnight (`22:00`–`02:00`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TimeWindow {
    /// First minute inside the window.
    pub from: TimeOfDay,
    /// First minute after the window.
    pub until: TimeOfDay,
}

impl TimeWindow {
    pub(crate) fn contains(&self, t: TimeOfDay) -> bool {
        if self.from < self.until {
            self.from <= t && t < self.until
        } else {
            t >= self.from || t < self.until
        }
    }
}

/// Serde for the instants of member states and receipts, in the form the
/// engine writes them: `YYYY-MM-DDTHH:MM:SS[.fff|.ffffff|.fffffffff]Z`.
///
/// The same text as chrono's own `Serialize` (RFC 3339, `Z`, fraction digits
/// in groups of three as needed) and the same values and errors as its
/// `Deserialize`, which remains the path for every other form (offsets,
/// a space for `T`, lower case, years past 9999, leap seconds): that form
/// is written and read here without chrono's general-purpose formatter and
/// parser, which were about a quarter of the cost of decoding a member.
pub(crate) mod instant {
    use chrono::{DateTime, Datelike, FixedOffset, NaiveDate, NaiveTime, Timelike, Utc};
    use serde::{Deserializer, Serializer};

    /// The text of `t` in `buf`, or `None` outside the fast form's range.
    fn write(t: &DateTime<Utc>, buf: &mut [u8; 30]) -> Option<usize> {
        let (year, nanos) = (t.year(), t.nanosecond());
        if !(0..=9999).contains(&year) || nanos >= 1_000_000_000 {
            return None;
        }
        fn two(buf: &mut [u8], at: usize, v: u32) {
            buf[at] = b'0' + (v / 10) as u8;
            buf[at + 1] = b'0' + (v % 10) as u8;
        }
        let y = year as u32;
        two(buf, 0, y / 100);
        two(buf, 2, y % 100);
        buf[4] = b'-';
        two(buf, 5, t.month());
        buf[7] = b'-';
        two(buf, 8, t.day());
        buf[10] = b'T';
        two(buf, 11, t.hour());
        buf[13] = b':';
        two(buf, 14, t.minute());
        buf[16] = b':';
        two(buf, 17, t.second());
        let mut len = 19;
        let digits = match nanos {
            0 => 0,
            n if n % 1_000_000 == 0 => 3,
            n if n % 1_000 == 0 => 6,
            _ => 9,
        };
        if digits > 0 {
            buf[len] = b'.';
            let mut v = nanos / 10_u32.pow(9 - digits);
            for i in (0..digits as usize).rev() {
                buf[len + 1 + i] = b'0' + (v % 10) as u8;
                v /= 10;
            }
            len += 1 + digits as usize;
        }
        buf[len] = b'Z';
        Some(len + 1)
    }

    /// The instant of a text in the fast form, or `None` for any other text.
    pub(crate) fn read(text: &str) -> Option<DateTime<Utc>> {
        let b = text.as_bytes();
        if b.len() < 20 || b.len() > 30 || b[b.len() - 1] != b'Z' {
            return None;
        }
        let num = |from: usize, n: usize| -> Option<u32> {
            b.get(from..from + n)?
                .iter()
                .try_fold(0_u32, |v, &c| c.is_ascii_digit().then(|| v * 10 + u32::from(c - b'0')))
        };
        if b[4] != b'-' || b[7] != b'-' || b[10] != b'T' || b[13] != b':' || b[16] != b':' {
            return None;
        }
        let date = NaiveDate::from_ymd_opt(num(0, 4)? as i32, num(5, 2)?, num(8, 2)?)?;
        let (hour, minute, second) = (num(11, 2)?, num(14, 2)?, num(17, 2)?);
        if second > 59 {
            return None; // a leap second: chrono's parser decides
        }
        let nanos = match b.len() - 20 {
            0 => 0,
            n if n >= 2 && b[19] == b'.' => num(20, n - 1)? * 10_u32.pow(10 - n as u32),
            _ => return None,
        };
        let time = NaiveTime::from_hms_nano_opt(hour, minute, second, nanos)?;
        Some(date.and_time(time).and_utc())
    }

    pub(crate) fn serialize<S: Serializer>(t: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
        if crate::pack::active(&s) {
            return s.serialize_newtype_struct(crate::pack::INSTANT, &crate::pack::instant_bits(t));
        }
        let mut buf = [0_u8; 30];
        match write(t, &mut buf) {
            // ASCII digits and separators only.
            Some(len) => s.serialize_str(std::str::from_utf8(&buf[..len]).unwrap_or_default()),
            None => serde::Serialize::serialize(t, s),
        }
    }

    struct Visitor;

    impl serde::de::Visitor<'_> for Visitor {
        type Value = DateTime<Utc>;

        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            // chrono's words, so errors read as before.
            f.write_str("an RFC 3339 formatted date and time string")
        }

        fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<DateTime<Utc>, E> {
            match read(v) {
                Some(t) => Ok(t),
                None => v.parse::<DateTime<FixedOffset>>().map(|t| t.with_timezone(&Utc)).map_err(E::custom),
            }
        }
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<DateTime<Utc>, D::Error> {
        if crate::pack::reading(&d) {
            return d.deserialize_newtype_struct(crate::pack::INSTANT, Packed);
        }
        d.deserialize_str(Visitor)
    }

    /// An instant in the packed form (see `crate::pack`).
    struct Packed;

    impl serde::de::Visitor<'_> for Packed {
        type Value = DateTime<Utc>;

        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("an instant")
        }

        fn visit_i128<E: serde::de::Error>(self, v: i128) -> Result<DateTime<Utc>, E> {
            crate::pack::instant_of(v).ok_or_else(|| E::custom("an instant out of range"))
        }
    }

    /// The same for an optional instant (`null` or absent: `None`; give the
    /// field `#[serde(default)]`).
    pub(crate) mod option {
        use chrono::{DateTime, Utc};
        use serde::{Deserializer, Serializer};

        pub(crate) fn serialize<S: Serializer>(t: &Option<DateTime<Utc>>, s: S) -> Result<S::Ok, S::Error> {
            match t {
                Some(t) => s.serialize_some(&Fast(t)),
                None => s.serialize_none(),
            }
        }

        struct Fast<'a>(&'a DateTime<Utc>);

        impl serde::Serialize for Fast<'_> {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                super::serialize(self.0, s)
            }
        }

        struct Visitor;

        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = Option<DateTime<Utc>>;

            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("option")
            }

            fn visit_none<E: serde::de::Error>(self) -> Result<Self::Value, E> {
                Ok(None)
            }

            fn visit_unit<E: serde::de::Error>(self) -> Result<Self::Value, E> {
                Ok(None)
            }

            fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
                super::deserialize(d).map(Some)
            }
        }

        pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<DateTime<Utc>>, D::Error> {
            d.deserialize_option(Visitor)
        }
    }

    #[cfg(test)]
    mod tests {
        use super::*;
        use proptest::prelude::*;

        fn chrono_text(t: &DateTime<Utc>) -> String {
            serde_json::to_string(t).unwrap()
        }

        #[test]
        fn writes_what_chrono_writes() {
            for text in [
                "2026-01-01T00:00:00Z",
                "0000-01-01T00:00:00Z",
                "9999-12-31T23:59:59.999999999Z",
                "2026-03-01T10:00:00.100Z",
                "2026-03-01T10:00:00.000100Z",
                "2026-03-01T10:00:00.000000100Z",
                "2026-03-01T10:00:00.120000Z",
            ] {
                let t: DateTime<Utc> = text.parse().unwrap();
                let mut buf = [0; 30];
                let len = write(&t, &mut buf).unwrap();
                assert_eq!(std::str::from_utf8(&buf[..len]).unwrap(), chrono_text(&t).trim_matches('"'));
                assert_eq!(read(text), Some(t), "{text}");
            }
        }

        #[test]
        fn other_forms_are_left_to_chrono() {
            for text in [
                "2026-01-01T00:00:00+03:00",
                "2026-01-01 00:00:00Z",
                "2026-01-01t00:00:00z",
                "2026-01-01T00:00:60Z",
                "2026-01-01T00:00:00.Z",
                "2026-01-01T00:00:00.1234567890Z",
                "+10000-01-01T00:00:00Z",
                "2026-02-30T00:00:00Z",
                "2026-01-01T24:00:00Z",
                "2026-1-01T00:00:00Z",
                "２026-01-01T00:00:00Z",
                "",
            ] {
                assert_eq!(read(text), None, "{text}");
            }
        }

        fn decode(json: &str) -> Result<DateTime<Utc>, String> {
            let mut d = serde_json::Deserializer::from_str(json);
            deserialize(&mut d).map_err(|e| e.to_string())
        }

        proptest! {
            /// Any instant chrono can write comes back the same, as the same text.
            #[test]
            fn same_text_and_value_as_chrono(secs in -62_167_219_200_i64..253_402_300_800, nanos in prop_oneof![Just(0_u32), 0_u32..1_000_000_000, (0_u32..1000).prop_map(|m| m * 1_000_000)]) {
                let t = DateTime::from_timestamp(secs, nanos).unwrap();
                let mut out = Vec::new();
                serialize(&t, &mut serde_json::Serializer::new(&mut out)).unwrap();
                let ours = String::from_utf8(out).unwrap();
                prop_assert_eq!(&ours, &chrono_text(&t));
                prop_assert_eq!(decode(&ours), Ok(t));
            }

            /// Any text decodes to what chrono's decoder gives, error included.
            #[test]
            fn same_result_as_chrono_on_any_text(text in "[0-9T:.Z+ -]{0,32}|[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\\.[0-9]{0,11})?[Zz]?") {
                let json = serde_json::to_string(&text).unwrap();
                let theirs = serde_json::from_str::<DateTime<Utc>>(&json).map_err(|e| e.to_string());
                prop_assert_eq!(decode(&json), theirs);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The memos of expiry and enrolment dates give what a conversion
    /// gives, whatever the order of zones and instants (hits, misses,
    /// evictions).
    #[test]
    fn remembered_expiry_dates_are_exact() {
        let zones = [chrono_tz::Europe::Moscow, chrono_tz::Pacific::Apia, chrono_tz::America::New_York];
        let mut seed = 11_u64;
        for _ in 0..5000 {
            seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
            let zone = zones[(seed >> 62) as usize % zones.len()];
            // Few distinct instants, so entries are hit and evicted.
            let at = utc(2011, 12, 29, 0, 0) + Duration::hours((seed >> 59) as i64 * 7);
            assert_eq!(expiry_date(zone, at), local_date(zone, at), "{zone} {at}");
            assert_eq!(enrolment_date(zone, at), local_date(zone, at), "{zone} {at}");
        }
    }

    /// Remembered UTC dates are what chrono gives for every second, with
    /// hits, slots shared by days 256 apart, and the calendar's ends.
    #[test]
    fn remembered_utc_dates_are_exact() {
        let chrono_date = |secs: i64| DateTime::from_timestamp(secs, 0).map(|t| t.date_naive());
        let (min, max) = (DateTime::<Utc>::MIN_UTC.timestamp(), DateTime::<Utc>::MAX_UTC.timestamp());
        let mut seed = 7_u64;
        let mut checked = 0;
        for _ in 0..20_000 {
            seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
            let base = match seed >> 62 {
                0 => min,
                1 => max - 3 * 86_400,
                _ => 1_780_000_000,
            };
            // A few thousand days, 256 apart or not, any second of them.
            let secs = base + ((seed >> 20) % (4 * 86_400 * 256)) as i64 - 86_400;
            assert_eq!(utc_date(secs), chrono_date(secs), "{secs}");
            checked += 1;
        }
        for secs in [min - 1, min, max, max + 1, -1, 0, 86_399, 86_400] {
            assert_eq!(utc_date(secs), chrono_date(secs), "{secs}");
            assert_eq!(utc_date(secs), chrono_date(secs), "{secs} again");
        }
        assert_eq!(checked, 20_000);
    }

    /// Local times carried by a `Moment` are the ones a conversion gives,
    /// across DST gaps, overlaps and Samoa's skipped day, for every period
    /// kind and rounding.
    #[test]
    fn moments_carry_exact_local_times() {
        let zones = [chrono_tz::Europe::Berlin, chrono_tz::America::New_York, chrono_tz::Pacific::Apia, chrono_tz::UTC];
        let periods = [Period::Minutes(90), Period::Hours(24), Period::Days(1), Period::Days(30), Period::Months(1)];
        let rounds = [RoundTo::None, RoundTo::EndOfDay, RoundTo::EndOfMonth, RoundTo::EndOfYear];
        let check = |m: Moment, zone: Tz| assert_eq!(m.local(zone), m.utc.with_timezone(&zone).naive_local());
        for zone in zones {
            let mut at = utc(2011, 1, 1, 0, 0);
            while at < utc(2012, 1, 1, 0, 0) {
                let exact = Moment::with_local(at, at.with_timezone(&zone).naive_local());
                for p in periods {
                    for (m, plain) in
                        [(p.after_in(exact, zone), p.after(at, zone)), (p.before_in(exact, zone), p.before(at, zone))]
                    {
                        let m = m.unwrap();
                        assert_eq!(Some(m.utc), plain, "{zone} {at} {p}");
                        check(m, zone);
                        for r in rounds {
                            let rounded = r.apply_in(m, zone).unwrap();
                            check(rounded, zone);
                            assert_eq!(rounded.utc, r.apply_in(Moment::new(m.utc), zone).unwrap().utc);
                        }
                    }
                }
                at += Duration::minutes(3 * 60 + 7);
            }
        }
    }

    /// `before_bounds` holds whatever the zone: across DST gaps, overlaps,
    /// Samoa's skipped day and zones far from UTC.
    #[test]
    fn before_bounds_hold_in_every_zone() {
        let zones = [
            chrono_tz::Europe::Berlin,
            chrono_tz::America::New_York,
            chrono_tz::Pacific::Apia,
            chrono_tz::Pacific::Kiritimati,
            chrono_tz::Pacific::Pago_Pago,
            chrono_tz::Australia::Lord_Howe,
            chrono_tz::America::Santiago,
            chrono_tz::UTC,
        ];
        let periods = [
            Period::Minutes(90),
            Period::Hours(72),
            Period::Days(1),
            Period::Days(3),
            Period::Days(365),
            Period::Months(1),
            Period::Months(13),
        ];
        for zone in zones {
            let mut at = utc(2010, 11, 1, 0, 0);
            while at < utc(2013, 1, 1, 0, 0) {
                for p in periods {
                    let exact = p.before(at, zone).unwrap();
                    let (earliest, latest) = p.before_bounds(at.timestamp());
                    let exact = exact.timestamp();
                    assert!(
                        earliest <= exact && exact <= latest,
                        "{zone} {at} {p}: {exact} not in {earliest}..{latest}"
                    );
                }
                at += Duration::minutes(5 * 60 + 11);
            }
        }
    }

    /// Rounding a period's end without resolving it first gives what
    /// resolving and rounding give: at month and year ends, in DST gaps
    /// (Santiago's at midnight) and on Samoa's skipped day.
    #[test]
    fn rounded_period_ends_are_exact() {
        let zones = [chrono_tz::America::Santiago, chrono_tz::Pacific::Apia, chrono_tz::Europe::Moscow, chrono_tz::UTC];
        let periods = [Period::Hours(24), Period::Days(1), Period::Days(30), Period::Months(1), Period::Months(6)];
        let rounds = [RoundTo::None, RoundTo::EndOfDay, RoundTo::EndOfMonth, RoundTo::EndOfYear];
        for zone in zones {
            let mut at = utc(2010, 11, 1, 0, 0);
            while at < utc(2013, 1, 1, 0, 0) {
                for from in [Moment::new(at), Moment::with_local(at, at.with_timezone(&zone).naive_local())] {
                    for p in periods {
                        for r in rounds {
                            let want = p.after_in(from, zone).and_then(|t| r.apply_in(t, zone)).map(|m| m.utc);
                            assert_eq!(r.apply_after(p, from, zone).map(|m| m.utc), want, "{zone} {at} {p} {r:?}");
                        }
                    }
                }
                at += Duration::minutes(151);
            }
        }
    }

    fn utc(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, mo, d, h, mi, 0).unwrap()
    }

    #[test]
    fn months_clamp_to_month_end() {
        let z = chrono_tz::Europe::Moscow;
        // 31 Jan 12:00 MSK = 09:00 UTC
        assert_eq!(Period::Months(1).after(utc(2028, 1, 31, 9, 0), z), Some(utc(2028, 2, 29, 9, 0)));
    }

    #[test]
    fn gap_resolves_to_first_instant_after() {
        // Europe/Berlin: 2027-03-28 02:00 local does not exist; clocks jump to 03:00 (01:00 UTC).
        let z = chrono_tz::Europe::Berlin;
        let local = NaiveDate::from_ymd_opt(2027, 3, 28).unwrap().and_hms_opt(2, 30, 0).unwrap();
        assert_eq!(resolve(z, local), Some(utc(2027, 3, 28, 1, 0)));
        // Overlap: 2027-10-31 02:30 exists twice; take the earlier (00:30 UTC).
        let local = NaiveDate::from_ymd_opt(2027, 10, 31).unwrap().and_hms_opt(2, 30, 0).unwrap();
        assert_eq!(resolve(z, local), Some(utc(2027, 10, 31, 0, 30)));
    }

    #[test]
    fn midnight_gap() {
        // America/Santiago springs forward at 24:00 local: 2026-09-06 00:00 does not exist.
        let z = chrono_tz::America::Santiago;
        let start = start_of_day(z, NaiveDate::from_ymd_opt(2026, 9, 6).unwrap()).unwrap();
        assert_eq!(start.with_timezone(&z).naive_local().time(), NaiveTime::from_hms_opt(1, 0, 0).unwrap());
    }

    #[test]
    fn round_to_end_of_month() {
        let z = chrono_tz::Europe::Moscow;
        // 2027-06-15 12:00 MSK → 2027-07-01 00:00 MSK = 2027-06-30 21:00 UTC
        assert_eq!(RoundTo::EndOfMonth.apply(utc(2027, 6, 15, 9, 0), z), Some(utc(2027, 6, 30, 21, 0)));
        assert_eq!(RoundTo::EndOfYear.apply(utc(2027, 6, 15, 9, 0), z), Some(utc(2027, 12, 31, 21, 0)));
    }

    #[test]
    fn windows() {
        let w = TimeWindow {
            from: "15:00".to_string().try_into().unwrap(),
            until: "18:00".to_string().try_into().unwrap(),
        };
        let t = |s: &str| TimeOfDay::try_from(s.to_string()).unwrap();
        assert!(w.contains(t("15:00")) && w.contains(t("17:59")) && !w.contains(t("18:00")) && !w.contains(t("14:59")));
        let wrap = TimeWindow { from: t("22:00"), until: t("02:00") };
        assert!(wrap.contains(t("23:00")) && wrap.contains(t("01:00")) && !wrap.contains(t("12:00")));
    }

    #[test]
    fn periods_validate() {
        assert!(serde_json::from_str::<Period>(r#"{"days":0}"#).is_err());
        assert!(serde_json::from_str::<Period>(r#"{}"#).is_err());
        assert!(serde_json::from_str::<Period>(r#"{"weeks":1}"#).is_err());
        assert_eq!(serde_json::from_str::<Period>(r#"{"years":2}"#).unwrap(), Period::Months(24));
    }
}
