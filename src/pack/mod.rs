//! The packed form of a member state: a compact binary encoding for hosts
//! that keep many members in memory or in a key-value store
//! ([`Member::to_bytes`](crate::Member::to_bytes),
//! [`Member::from_bytes`](crate::Member::from_bytes)). It carries exactly
//! what the JSON form carries.
//!
//! The bytes `LM` and the form's version (1) come first. Then the member:
//! its own fields and its most numerous records laid out by hand
//! ([`member`] lists the order), and its less common parts through a serde
//! format, in the same stream. Neither is self-describing: the reader
//! follows the member's types, as the writer did. Both write values alike:
//!
//! * `bool`, `u8`, `i8`, a flag: one byte; other integers: LEB128 (signed
//!   ones zigzag-mapped first); `f32`, `f64`: little-endian bytes;
//! * a string: a LEB128 number `h`. Even `h`: a new string of `h / 2`
//!   bytes of UTF-8 follows, and takes the next number in the string
//!   table; odd `h`: the string numbered `(h − 1) / 2` again. An id that
//!   names a lot, a purchase and a remembered event is written once;
//! * `Option`: 0, or 1 and the value; a list or map: its length, then its
//!   items; a tuple: its items; an enum: the variant's number, then its
//!   content;
//! * a struct (serde): a LEB128 header `h`. Even `h`: `h / 2` is a bitmap
//!   of the declared fields that follow (the writer leaves out the fields
//!   the JSON form leaves out), in declaration order, each as its value.
//!   The header always has the width the struct's full bitmap needs. Odd
//!   `h` (a struct the writer has no field list for): fields by name, each
//!   a byte 1, the name and the value, then a byte 0;
//! * an instant: its distance from the instant written before it (from
//!   the Unix epoch for the first), in whole seconds, doubled, plus one
//!   when nanoseconds follow, zigzag-mapped, in LEB128; then the
//!   nanoseconds of its second, if any. A member's instants follow each
//!   other closely, so most take 2–4 bytes;
//! * an [`Amount`](crate::Amount): `|mantissa| × 64 + scale × 2 + sign`
//!   in LEB128 (`"1500"`: 3 bytes; a zero is never negative); a date in a
//!   hand-laid record: chrono's day number (0001-01-01 is day 1), zigzag
//!   LEB128; an event fingerprint: its 8 bytes; a receipt's text: the
//!   string the JSON form carries;
//! * instants and dates that the JSON form writes with chrono's own serde
//!   (badges, challenge progress, transfers received, referrals, chosen
//!   days: all in the serde part) stay their RFC 3339 text.
//!
//! Only the packed form's own writer and reader see the instant, amount
//! and signal encodings above ([`active`], [`reading`]): any other serde
//! format sees those types exactly as before.
//!
//! The reader refuses, with the byte offset: another header, a truncated
//! value, a LEB128 number too long for its type, a length beyond the bytes
//! left, a string that is not UTF-8 or refers past the table, a bitmap bit
//! beyond the struct's fields, an invalid instant, date, amount or enum
//! number, and bytes left over. Whatever it accepts decodes to a member
//! that the JSON form could also carry.

use std::collections::HashMap;
use std::fmt;
use std::sync::OnceLock;

use serde::de::{self, DeserializeSeed, IntoDeserializer, Visitor};
use serde::ser::{self, Serialize};
use serde::Deserialize;

/// The first bytes of every packed member.
pub(crate) const MAGIC: [u8; 2] = *b"LM";
/// The version of the packed form, after the magic bytes.
pub(crate) const VERSION: u8 = 1;
/// The newtype name an instant is written under (see the module docs).
pub(crate) const INSTANT: &str = "$loyalty::instant";

/// What went wrong, and at which byte (reading) or where (writing); boxed,
/// so a `Result` of a number is returned in registers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PackError(Box<Failure>);

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Failure {
    /// The byte offset the reader was at (0 when writing).
    pub(crate) at: usize,
    pub(crate) what: String,
}

impl PackError {
    #[cold]
    fn new(at: usize, what: impl Into<String>) -> PackError {
        PackError(Box::new(Failure { at, what: what.into() }))
    }

    /// The error at byte `pos` if it does not know its byte yet (serde's
    /// errors are made without one).
    fn located(mut self, pos: usize) -> PackError {
        if self.at == usize::MAX {
            self.at = pos;
        }
        self
    }
}

impl std::ops::Deref for PackError {
    type Target = Failure;
    fn deref(&self) -> &Failure {
        &self.0
    }
}

impl std::ops::DerefMut for PackError {
    fn deref_mut(&mut self) -> &mut Failure {
        &mut self.0
    }
}

impl fmt::Display for PackError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "byte {}: {}", self.at, self.what)
    }
}

impl std::error::Error for PackError {}

impl ser::Error for PackError {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        PackError::new(0, msg.to_string())
    }
}

impl de::Error for PackError {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        // The reader puts in the offset where it catches the error.
        PackError::new(usize::MAX, msg.to_string())
    }
}

/// 1970-01-01 in chrono's days from the common era.
const UNIX_DAY: i64 = 719_163;

/// An instant as the instant serializers hand it over: its Unix seconds
/// shifted up by 32 bits, its nanoseconds in the low 32 (up to 2·10⁹ − 1
/// in a leap second, which chrono keeps as the second's nanoseconds).
pub(crate) fn instant_bits(t: &chrono::DateTime<chrono::Utc>) -> i128 {
    (i128::from(t.timestamp()) << 32) | i128::from(t.timestamp_subsec_nanos())
}

/// The instant of [`instant_bits`], if chrono can hold it.
pub(crate) fn instant_of(bits: i128) -> Option<chrono::DateTime<chrono::Utc>> {
    let secs = i64::try_from(bits >> 32).ok()?;
    chrono::DateTime::from_timestamp(secs, (bits & 0xffff_ffff) as u32)
}

mod member;

thread_local! {
    /// True while this thread packs or unpacks a member.
    static PACKING: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Marks this thread as packing until dropped (and puts back what was).
struct Packing(bool);

impl Packing {
    fn start() -> Packing {
        Packing(PACKING.with(|p| p.replace(true)))
    }
}

impl Drop for Packing {
    fn drop(&mut self) {
        PACKING.with(|p| p.set(self.0));
    }
}

/// True when `s` is the packed form's writer: a serializer that is not
/// human-readable, while this thread packs a member. The few types with a
/// packed encoding of their own (instants, amounts, signals) ask this, so
/// any other serde format (CBOR, bincode, …) sees them exactly as before.
pub(crate) fn active<S: ser::Serializer>(s: &S) -> bool {
    !s.is_human_readable() && PACKING.with(std::cell::Cell::get)
}

/// [`active`] for a deserializer: the packed form's reader.
pub(crate) fn reading<'de, D: de::Deserializer<'de>>(d: &D) -> bool {
    !d.is_human_readable() && PACKING.with(std::cell::Cell::get)
}

/// Writes a member in the packed form.
pub(crate) fn member_to_bytes(m: &crate::Member) -> Result<Vec<u8>, PackError> {
    thread_local! {
        /// The last writer's buffers and struct lookups, for the next member.
        static SPARE: std::cell::RefCell<Option<Writer>> = const { std::cell::RefCell::new(None) };
    }
    let _packing = Packing::start();
    let mut w = SPARE.with(|s| s.borrow_mut().take()).unwrap_or_default();
    w.out.clear();
    w.strings.clear();
    w.slots.iter_mut().for_each(|s| *s = 0);
    for slot in w.used.drain(..) {
        w.by_address[usize::from(slot)] = (0, 0, 0);
    }
    w.last_instant = 0;
    w.instant_next = false;
    w.out.extend_from_slice(&MAGIC);
    w.out.push(VERSION);
    // The bytes in a block of their own size.
    let bytes = member::write(&mut w, m).map(|()| w.out.to_vec());
    if w.out.capacity() <= 1 << 20 {
        SPARE.with(|s| *s.borrow_mut() = Some(w));
    }
    bytes
}

/// Reads a member written by [`member_to_bytes`]; every byte must be used.
pub(crate) fn member_from_bytes(bytes: &[u8]) -> Result<crate::Member, PackError> {
    let fail = |what: &str| PackError::new(0, what.to_owned());
    if bytes.is_empty() {
        return Err(fail("empty input: not a packed member"));
    }
    if bytes.get(..2) != Some(&MAGIC[..]) {
        return Err(fail("not a packed member (it starts with the bytes \"LM\")"));
    }
    match bytes.get(2) {
        Some(&VERSION) => {}
        Some(v) => {
            return Err(PackError::new(
                2,
                format!("packed form version {v} is not readable by this release (it reads version {VERSION})"),
            ))
        }
        None => return Err(PackError::new(2, "the input ends after the magic bytes")),
    }
    let _packing = Packing::start();
    let mut r = Reader::new(bytes, 3);
    let member = member::read(&mut r).map_err(|e| e.located(r.pos))?;
    if r.pos != bytes.len() {
        return Err(PackError::new(r.pos, format!("{} bytes left over after the member", bytes.len() - r.pos)));
    }
    Ok(member)
}

// ---------------------------------------------------------------------------
// Field lists

/// The declared fields of the structs the serde path writes, by struct
/// name, as their `Deserialize` implementations list them (asked once, by
/// [`probe`]): the writer's bitmaps follow them, as the reader's do. A
/// struct missing here is written by name, larger but as exact.
fn field_lists() -> &'static HashMap<&'static str, &'static [&'static str]> {
    static LISTS: OnceLock<HashMap<&'static str, &'static [&'static str]>> = OnceLock::new();
    LISTS.get_or_init(|| {
        use crate::engagement::{Badge, ChallengeProgress};
        use crate::member::{HoldRecord, Take};
        use crate::reward::IssuedReward;
        use crate::tier::{TierChange, TierHold};
        [
            probe::<member::Rare<'static>>(),
            probe::<HoldRecord>(),
            probe::<Take>(),
            probe::<IssuedReward>(),
            probe::<ChallengeProgress>(),
            probe::<Badge>(),
            probe::<TierHold>(),
            probe::<TierChange>(),
        ]
        .into_iter()
        .flatten()
        .collect()
    })
}

/// The name and declared fields of struct `T`, from its `Deserialize`.
fn probe<T: de::DeserializeOwned>() -> Option<(&'static str, &'static [&'static str])> {
    match T::deserialize(Probe) {
        Err(Found(found)) => found,
        Ok(_) => None,
    }
}

/// A deserializer that only records what `deserialize_struct` is asked.
struct Probe;

#[derive(Debug)]
struct Found(Option<(&'static str, &'static [&'static str])>);

impl fmt::Display for Found {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("probe")
    }
}

impl std::error::Error for Found {}

impl de::Error for Found {
    fn custom<T: fmt::Display>(_: T) -> Self {
        Found(None)
    }
}

impl<'de> de::Deserializer<'de> for Probe {
    type Error = Found;

    fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Found> {
        Err(Found(None))
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        fields: &'static [&'static str],
        _: V,
    ) -> Result<V::Value, Found> {
        Err(Found(Some((name, fields))))
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf option unit
        unit_struct newtype_struct seq tuple tuple_struct map enum identifier ignored_any
    }
}

// ---------------------------------------------------------------------------
// Writing

/// Slots of [`Writer::by_address`]: 256, the top byte of a hash of the address.
const ADDRESS_SLOTS: usize = 256;

/// A hash of a short string for the writer's table: eight bytes at a
/// time, each word mixed in by a multiply (the table only needs the
/// strings of one member spread over its slots).
fn hash(bytes: &[u8]) -> u64 {
    const K: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut h = (bytes.len() as u64).wrapping_mul(K);
    let mut chunks = bytes.chunks_exact(8);
    for c in &mut chunks {
        let w = u64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]);
        h = (h ^ w).wrapping_mul(K).rotate_left(29);
    }
    // The last bytes one by one (a copy of a few bytes is a call to `memcpy`).
    let last = chunks.remainder().iter().rev().fold(0_u64, |w, &b| (w << 8) | u64::from(b));
    h = (h ^ last).wrapping_mul(K);
    h ^ (h >> 32)
}

#[derive(Default)]
struct Writer {
    out: Vec<u8>,
    /// Where each string of the table was written: (offset, length).
    strings: Vec<(u32, u32)>,
    /// The table's strings by hash: open addressing, linear probing, each
    /// slot a string's number + 1 (0: empty); never more than half full.
    slots: Vec<u32>,
    /// Strings written, by address and length → their number: a member's
    /// ids are often one shared buffer (a lot's source, its purchase, the
    /// remembered event), found again without hashing or comparing. Slots
    /// chosen by the address ([`ADDRESS_SLOTS`]); `used` lists the slots
    /// to empty for the next member.
    by_address: Vec<(usize, usize, u32)>,
    used: Vec<u8>,
    /// The Unix seconds of the last instant written.
    last_instant: i128,
    /// The last instant's date and its Unix day (chrono's day count is the
    /// costly part of an instant's seconds).
    last_day: (chrono::NaiveDate, i64),
    /// The next `i128` is an instant's nanoseconds.
    instant_next: bool,
    /// A buffer for texts formatted by `collect_str`.
    scratch: String,
    /// Struct names seen, by address, with their fields: the registry's
    /// answers, kept across members (a name's address does not change),
    /// in slots chosen by the address.
    structs: Vec<(usize, Option<&'static [&'static str]>)>,
}

/// Slots of [`Writer::structs`] (a power of two).
const STRUCT_SLOTS: usize = 64;

fn leb(out: &mut Vec<u8>, v: u128) {
    match u64::try_from(v) {
        Ok(v) => leb64(out, v),
        Err(_) => {
            let mut v = v;
            while v >= 0x80 {
                out.push((v as u8) | 0x80);
                v >>= 7;
            }
            out.push(v as u8);
        }
    }
}

#[inline]
fn leb64(out: &mut Vec<u8>, mut v: u64) {
    // Byte by byte: most numbers take one or two, and a copy of a few
    // bytes from a buffer is a call to `memcpy`.
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn zigzag(v: i128) -> u128 {
    ((v << 1) ^ (v >> 127)) as u128
}

fn unzigzag(v: u128) -> i128 {
    ((v >> 1) as i128) ^ -((v & 1) as i128)
}

impl Writer {
    /// A string that lives as long as the writer's work: one of the
    /// member's own. Found again by its address first (never a string
    /// serde hands over, which may be a temporary whose address a later
    /// one reuses).
    fn held_str(&mut self, s: &str) -> Result<(), PackError> {
        let address = s.as_ptr() as usize;
        if self.by_address.is_empty() {
            self.by_address.resize(ADDRESS_SLOTS, (0, 0, 0));
        }
        let cached = ((address as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 56) as usize;
        let (a, l, n) = self.by_address[cached];
        if a == address && l == s.len() && n != 0 {
            leb64(&mut self.out, u64::from(n - 1) * 2 + 1);
            return Ok(());
        }
        let n = self.str(s)?;
        if self.by_address[cached].2 == 0 {
            self.used.push(cached as u8);
        }
        self.by_address[cached] = (address, s.len(), n);
        Ok(())
    }

    /// Writes a string (see the module docs); its number in the table + 1.
    fn str(&mut self, s: &str) -> Result<u32, PackError> {
        let bytes = s.as_bytes();
        if self.slots.len() < 2 * (self.strings.len() + 1) {
            self.grow_slots();
        }
        let mask = self.slots.len() - 1;
        let mut i = hash(bytes) as usize & mask;
        loop {
            match self.slots[i] {
                0 => break,
                n => {
                    let (at, len) = self.strings[n as usize - 1];
                    if self.out.get(at as usize..(at + len) as usize) == Some(bytes) {
                        leb64(&mut self.out, u64::from(n - 1) * 2 + 1);
                        return Ok(n);
                    }
                }
            }
            i = (i + 1) & mask;
        }
        let too_long = || PackError::new(0, "a string or member longer than 4 GiB");
        let n = u32::try_from(self.strings.len() + 1).map_err(|_| too_long())?;
        leb64(&mut self.out, bytes.len() as u64 * 2);
        let at = u32::try_from(self.out.len()).map_err(|_| too_long())?;
        let len = u32::try_from(bytes.len()).map_err(|_| too_long())?;
        self.out.extend_from_slice(bytes);
        self.strings.push((at, len));
        self.slots[i] = n;
        Ok(n)
    }

    /// Twice the slots (at least 64), every string put back.
    fn grow_slots(&mut self) {
        let size = (self.slots.len() * 2).max(64);
        self.slots.clear();
        self.slots.resize(size, 0);
        for (k, &(at, len)) in self.strings.iter().enumerate() {
            let mut i = hash(&self.out[at as usize..(at + len) as usize]) as usize & (size - 1);
            while self.slots[i] != 0 {
                i = (i + 1) & (size - 1);
            }
            self.slots[i] = k as u32 + 1;
        }
    }

    fn fields_of(&mut self, name: &'static str) -> Option<&'static [&'static str]> {
        let at = name.as_ptr() as usize;
        if self.structs.is_empty() {
            self.structs.resize(STRUCT_SLOTS, (0, None));
        }
        let slot = (at >> 3) % STRUCT_SLOTS;
        if self.structs[slot].0 == at {
            return self.structs[slot].1;
        }
        let fields = field_lists().get(name).copied();
        self.structs[slot] = (at, fields);
        fields
    }

    fn instant(&mut self, bits: i128) {
        let (secs, sub) = (bits >> 32, bits & 0xffff_ffff);
        let delta = (secs - self.last_instant) * 2 + i128::from(sub != 0);
        self.last_instant = secs;
        match i64::try_from(delta) {
            Ok(d) => leb64(&mut self.out, ((d << 1) ^ (d >> 63)) as u64),
            Err(_) => leb(&mut self.out, zigzag(delta)),
        }
        if sub != 0 {
            leb64(&mut self.out, sub as u64);
        }
    }
}

/// Typed writes, for the records `member` lays out by hand.
impl Writer {
    fn u64(&mut self, v: u64) {
        leb64(&mut self.out, v);
    }

    fn i64(&mut self, v: i64) {
        leb64(&mut self.out, ((v << 1) ^ (v >> 63)) as u64);
    }

    fn flag(&mut self, v: bool) {
        self.out.push(u8::from(v));
    }

    fn at(&mut self, t: &chrono::DateTime<chrono::Utc>) {
        use chrono::{Datelike, Timelike};
        let t = t.naive_utc();
        let date = t.date();
        if date != self.last_day.0 {
            self.last_day = (date, i64::from(date.num_days_from_ce()) - UNIX_DAY);
        }
        let secs = self.last_day.1 * 86_400 + i64::from(t.time().num_seconds_from_midnight());
        self.instant((i128::from(secs) << 32) | i128::from(t.time().nanosecond()));
    }

    fn amount(&mut self, a: &crate::Amount) {
        leb(&mut self.out, a.packed());
    }

    fn date(&mut self, d: chrono::NaiveDate) {
        use chrono::Datelike;
        self.i64(d.num_days_from_ce().into());
    }

    fn serde<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), PackError> {
        value.serialize(self)
    }
}

fn unexpected(what: &str) -> PackError {
    PackError::new(0, format!("the packed form cannot hold {what}"))
}

impl<'a> ser::Serializer for &'a mut Writer {
    type Ok = ();
    type Error = PackError;
    type SerializeSeq = Self;
    type SerializeTuple = Self;
    type SerializeTupleStruct = Self;
    type SerializeTupleVariant = Self;
    type SerializeMap = Self;
    type SerializeStruct = StructWriter<'a>;
    type SerializeStructVariant = StructWriter<'a>;

    fn is_human_readable(&self) -> bool {
        false
    }

    fn serialize_bool(self, v: bool) -> Result<(), PackError> {
        self.out.push(u8::from(v));
        Ok(())
    }
    fn serialize_i8(self, v: i8) -> Result<(), PackError> {
        self.out.push(v as u8);
        Ok(())
    }
    fn serialize_i16(self, v: i16) -> Result<(), PackError> {
        self.serialize_i64(v.into())
    }
    fn serialize_i32(self, v: i32) -> Result<(), PackError> {
        self.serialize_i64(v.into())
    }
    fn serialize_i64(self, v: i64) -> Result<(), PackError> {
        leb64(&mut self.out, ((v << 1) ^ (v >> 63)) as u64);
        Ok(())
    }
    fn serialize_i128(self, v: i128) -> Result<(), PackError> {
        if std::mem::take(&mut self.instant_next) {
            self.instant(v);
            return Ok(());
        }
        leb(&mut self.out, zigzag(v));
        Ok(())
    }
    fn serialize_u8(self, v: u8) -> Result<(), PackError> {
        self.out.push(v);
        Ok(())
    }
    fn serialize_u16(self, v: u16) -> Result<(), PackError> {
        self.serialize_u64(v.into())
    }
    fn serialize_u32(self, v: u32) -> Result<(), PackError> {
        self.serialize_u64(v.into())
    }
    fn serialize_u64(self, v: u64) -> Result<(), PackError> {
        leb64(&mut self.out, v);
        Ok(())
    }
    fn serialize_u128(self, v: u128) -> Result<(), PackError> {
        leb(&mut self.out, v);
        Ok(())
    }
    fn serialize_f32(self, v: f32) -> Result<(), PackError> {
        self.out.extend_from_slice(&v.to_le_bytes());
        Ok(())
    }
    fn serialize_f64(self, v: f64) -> Result<(), PackError> {
        self.out.extend_from_slice(&v.to_le_bytes());
        Ok(())
    }
    fn serialize_char(self, v: char) -> Result<(), PackError> {
        self.serialize_u64(u32::from(v).into())
    }
    fn serialize_str(self, v: &str) -> Result<(), PackError> {
        self.str(v).map(|_| ())
    }
    fn collect_str<T: fmt::Display + ?Sized>(self, value: &T) -> Result<(), PackError> {
        // Formatted into a buffer kept for the next text (a receipt's
        // texts, chrono's dates), not a new string each time.
        use fmt::Write as _;
        let mut text = std::mem::take(&mut self.scratch);
        text.clear();
        let written = write!(text, "{value}").map_err(|_| unexpected("a text whose formatting failed"));
        let result = written.and_then(|()| self.str(&text).map(|_| ()));
        self.scratch = text;
        result
    }
    fn serialize_bytes(self, v: &[u8]) -> Result<(), PackError> {
        leb(&mut self.out, v.len() as u128);
        self.out.extend_from_slice(v);
        Ok(())
    }
    fn serialize_none(self) -> Result<(), PackError> {
        self.out.push(0);
        Ok(())
    }
    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<(), PackError> {
        self.out.push(1);
        value.serialize(self)
    }
    fn serialize_unit(self) -> Result<(), PackError> {
        Ok(())
    }
    fn serialize_unit_struct(self, _: &'static str) -> Result<(), PackError> {
        Ok(())
    }
    fn serialize_unit_variant(self, _: &'static str, index: u32, _: &'static str) -> Result<(), PackError> {
        self.serialize_u32(index)
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(self, name: &'static str, value: &T) -> Result<(), PackError> {
        if name == INSTANT {
            // The value is the instant's nanoseconds: `serialize_i128` takes it.
            self.instant_next = true;
            value.serialize(&mut *self)?;
            if std::mem::take(&mut self.instant_next) {
                return Err(unexpected("an instant that is not nanoseconds"));
            }
            return Ok(());
        }
        value.serialize(self)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        index: u32,
        _: &'static str,
        value: &T,
    ) -> Result<(), PackError> {
        self.serialize_u32(index)?;
        value.serialize(self)
    }
    fn serialize_seq(self, len: Option<usize>) -> Result<Self, PackError> {
        let len = len.ok_or_else(|| unexpected("a list of unknown length"))?;
        leb(&mut self.out, len as u128);
        Ok(self)
    }
    fn serialize_tuple(self, _: usize) -> Result<Self, PackError> {
        Ok(self)
    }
    fn serialize_tuple_struct(self, _: &'static str, _: usize) -> Result<Self, PackError> {
        Ok(self)
    }
    fn serialize_tuple_variant(
        self,
        _: &'static str,
        index: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self, PackError> {
        self.serialize_u32(index)?;
        Ok(self)
    }
    fn serialize_map(self, len: Option<usize>) -> Result<Self, PackError> {
        let len = len.ok_or_else(|| unexpected("a map of unknown length"))?;
        leb(&mut self.out, len as u128);
        Ok(self)
    }
    fn serialize_struct(self, name: &'static str, _: usize) -> Result<StructWriter<'a>, PackError> {
        Ok(StructWriter::start(self, Some(name)))
    }
    fn serialize_struct_variant(
        self,
        _: &'static str,
        index: u32,
        _: &'static str,
        _: usize,
    ) -> Result<StructWriter<'a>, PackError> {
        self.serialize_u32(index)?;
        // No field list is known for a variant: fields by name.
        Ok(StructWriter::start(self, None))
    }
}

/// The serde traits of lists and tuples: their items one after another.
macro_rules! items {
    ($trait:ident, $method:ident) => {
        impl ser::$trait for &mut Writer {
            type Ok = ();
            type Error = PackError;
            fn $method<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), PackError> {
                value.serialize(&mut **self)
            }
            fn end(self) -> Result<(), PackError> {
                Ok(())
            }
        }
    };
}

items!(SerializeSeq, serialize_element);
items!(SerializeTuple, serialize_element);
items!(SerializeTupleStruct, serialize_field);
items!(SerializeTupleVariant, serialize_field);

impl ser::SerializeMap for &mut Writer {
    type Ok = ();
    type Error = PackError;
    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<(), PackError> {
        key.serialize(&mut **self)
    }
    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), PackError> {
        value.serialize(&mut **self)
    }
    fn end(self) -> Result<(), PackError> {
        Ok(())
    }
}

/// A struct being written: by bitmap when its field list is known, by
/// name otherwise.
pub(crate) struct StructWriter<'a> {
    w: &'a mut Writer,
    /// The declared fields (empty: by name).
    fields: &'static [&'static str],
    /// Where the bitmap header is, and its width in bytes.
    header: usize,
    width: usize,
    /// The next declared field a written field may be.
    next: usize,
    bits: u64,
}

impl<'a> StructWriter<'a> {
    fn start(w: &'a mut Writer, name: Option<&'static str>) -> StructWriter<'a> {
        let fields = name.and_then(|name| w.fields_of(name)).filter(|f| f.len() < 63).unwrap_or(&[]);
        let header = w.out.len();
        let width = if fields.is_empty() {
            w.out.push(1);
            0
        } else {
            // Wide enough for every field's bit above the mode bit.
            let width = (fields.len() + 1).div_ceil(7);
            for _ in 0..width {
                w.out.push(0);
            }
            width
        };
        StructWriter { w, fields, header, width, next: 0, bits: 0 }
    }
}

impl ser::SerializeStruct for StructWriter<'_> {
    type Ok = ();
    type Error = PackError;

    fn serialize_field<T: Serialize + ?Sized>(&mut self, key: &'static str, value: &T) -> Result<(), PackError> {
        if self.width == 0 {
            self.w.out.push(1);
            self.w.str(key)?;
            return value.serialize(&mut *self.w);
        }
        // Fields come in declaration order: most often the next one, and
        // the same text at the same address.
        let same = |f: &&str| std::ptr::eq(f.as_ptr(), key.as_ptr()) || *f == key;
        let found = match self.fields.get(self.next) {
            Some(f) if std::ptr::eq(f.as_ptr(), key.as_ptr()) => Some(0),
            _ => self.fields.get(self.next..).and_then(|rest| rest.iter().position(same)),
        };
        let Some(i) = found else {
            return Err(PackError::new(
                0,
                format!("field '{key}' is not among the struct's declared fields, in order"),
            ));
        };
        let i = self.next + i;
        self.bits |= 1 << i;
        self.next = i + 1;
        value.serialize(&mut *self.w)
    }

    fn end(self) -> Result<(), PackError> {
        if self.width == 0 {
            self.w.out.push(0);
            return Ok(());
        }
        // The header in its fixed width: LEB128 groups, every one but the
        // last with its continuation bit.
        let mut v = u128::from(self.bits) << 1;
        for k in 0..self.width {
            let more = if k + 1 < self.width { 0x80 } else { 0 };
            self.w.out[self.header + k] = (v as u8 & 0x7f) | more;
            v >>= 7;
        }
        Ok(())
    }
}

impl ser::SerializeStructVariant for StructWriter<'_> {
    type Ok = ();
    type Error = PackError;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, key: &'static str, value: &T) -> Result<(), PackError> {
        ser::SerializeStruct::serialize_field(self, key, value)
    }
    fn end(self) -> Result<(), PackError> {
        ser::SerializeStruct::end(self)
    }
}

// ---------------------------------------------------------------------------
// Reading

struct Reader<'de> {
    input: &'de [u8],
    pos: usize,
    /// The string table, each string's shared copy once an id asked for it.
    strings: Vec<(&'de str, Option<std::sync::Arc<str>>)>,
    last_instant: i128,
    /// Dates of Unix days read, in slots chosen by the day (chrono's date
    /// of a day count is the costly part of an instant).
    dates: [(i64, chrono::NaiveDate); 16],
}

impl<'de> Reader<'de> {
    fn new(input: &'de [u8], pos: usize) -> Reader<'de> {
        // No instant is on day `i64::MIN`.
        let dates = [(i64::MIN, chrono::NaiveDate::MIN); 16];
        Reader { input, pos, strings: Vec::with_capacity(64), last_instant: 0, dates }
    }

    fn fail(&self, what: impl Into<String>) -> PackError {
        PackError::new(self.pos, what.into())
    }

    fn byte(&mut self) -> Result<u8, PackError> {
        let b = *self.input.get(self.pos).ok_or_else(|| self.fail("the input ends in the middle of a value"))?;
        self.pos += 1;
        Ok(b)
    }

    fn take(&mut self, n: usize) -> Result<&'de [u8], PackError> {
        let end = self.pos.checked_add(n).filter(|&e| e <= self.input.len());
        let Some(end) = end else { return Err(self.fail("the input ends in the middle of a value")) };
        let bytes = &self.input[self.pos..end];
        self.pos = end;
        Ok(bytes)
    }

    /// A LEB128 number of at most `bits` bits.
    /// A LEB128 number of at most `bits` (≥ 64) bits.
    fn leb(&mut self, bits: u32) -> Result<u128, PackError> {
        // Nine bytes (63 bits) in 64-bit arithmetic: every number but
        // the widest amounts.
        let start = self.pos;
        let mut v: u64 = 0;
        for k in 0..9 {
            let b = *self.input.get(self.pos).ok_or_else(|| self.fail("the input ends in the middle of a value"))?;
            self.pos += 1;
            v |= u64::from(b & 0x7f) << (7 * k);
            if b & 0x80 == 0 {
                return Ok(v.into());
            }
        }
        let mut v = u128::from(v);
        let mut shift = 63;
        loop {
            let b = self.byte()?;
            let part = u128::from(b & 0x7f);
            if shift >= bits || (bits - shift < 7 && part >> (bits - shift) != 0) {
                self.pos = start;
                return Err(self.fail(format!("a number longer than {bits} bits")));
            }
            v |= part << shift;
            if b & 0x80 == 0 {
                return Ok(v);
            }
            shift += 7;
        }
    }

    /// A LEB128 number of at most 64 bits: nearly every number.
    #[inline]
    fn leb64(&mut self) -> Result<u64, PackError> {
        let start = self.pos;
        let mut v: u64 = 0;
        let mut shift = 0;
        while let Some(&b) = self.input.get(self.pos) {
            self.pos += 1;
            if shift == 63 && b > 1 {
                return Err(self.too_long(start, 64));
            }
            v |= u64::from(b & 0x7f) << shift;
            if b < 0x80 {
                return Ok(v);
            }
            shift += 7;
            if shift > 63 {
                return Err(self.too_long(start, 64));
            }
        }
        Err(self.fail("the input ends in the middle of a value"))
    }

    #[cold]
    fn too_long(&mut self, start: usize, bits: u32) -> PackError {
        self.pos = start;
        self.fail(format!("a number longer than {bits} bits"))
    }

    #[inline]
    fn unsigned<T: TryFrom<u64>>(&mut self, bits: u32) -> Result<T, PackError> {
        let start = self.pos;
        let v = self.leb64()?;
        match T::try_from(v) {
            Ok(v) => Ok(v),
            Err(_) => Err(self.too_long(start, bits)),
        }
    }

    #[inline]
    fn signed<T: TryFrom<i64>>(&mut self, bits: u32) -> Result<T, PackError> {
        let start = self.pos;
        let v = self.leb64()?;
        match T::try_from(((v >> 1) as i64) ^ -((v & 1) as i64)) {
            Ok(v) => Ok(v),
            Err(_) => Err(self.too_long(start, bits)),
        }
    }

    /// A length, at most the bytes left (every item takes a byte or more).
    fn len(&mut self) -> Result<usize, PackError> {
        let start = self.pos;
        let n: usize = self.unsigned(64)?;
        if n > self.input.len() - self.pos {
            return Err(PackError::new(start, format!("a length of {n}, more than the bytes left")));
        }
        Ok(n)
    }

    /// A string's number in the table (read, and added, if new).
    fn str_index(&mut self) -> Result<usize, PackError> {
        let start = self.pos;
        let h: u64 = self.unsigned(64)?;
        if h % 2 == 1 {
            let n = (h / 2) as usize;
            if n >= self.strings.len() {
                return Err(PackError::new(
                    start,
                    format!("string {n} again, but only {} strings came before", self.strings.len()),
                ));
            }
            return Ok(n);
        }
        let len = usize::try_from(h / 2).map_err(|_| PackError::new(start, "a string too long"))?;
        let bytes = self.take(len)?;
        let s = std::str::from_utf8(bytes).map_err(|_| PackError::new(start, "a string that is not UTF-8"))?;
        self.strings.push((s, None));
        Ok(self.strings.len() - 1)
    }

    fn str(&mut self) -> Result<&'de str, PackError> {
        let n = self.str_index()?;
        Ok(self.strings[n].0)
    }

    /// A string as an id: one shared copy per string of the table.
    fn id(&mut self) -> Result<crate::Id, PackError> {
        let n = self.str_index()?;
        let (text, shared) = &mut self.strings[n];
        let shared = shared.get_or_insert_with(|| std::sync::Arc::from(*text));
        Ok(crate::Id::shared(shared))
    }

    /// An instant's bits (see [`instant_bits`]); its callers check that
    /// chrono can hold it.
    fn instant(&mut self) -> Result<i128, PackError> {
        let start = self.pos;
        let out_of_range = || PackError::new(start, "an instant out of range");
        let v = i128::from(self.signed::<i64>(64)?);
        let sub: u32 = match v & 1 {
            0 => 0,
            _ => match self.unsigned(32)? {
                0 => return Err(out_of_range()),
                sub => sub,
            },
        };
        let secs =
            (v >> 1).checked_add(self.last_instant).filter(|s| i64::try_from(*s).is_ok()).ok_or_else(out_of_range)?;
        self.last_instant = secs;
        Ok((secs << 32) | i128::from(sub))
    }
}

/// Typed reads, for the records `member` lays out by hand.
impl<'de> Reader<'de> {
    fn u64(&mut self) -> Result<u64, PackError> {
        self.unsigned(64)
    }

    fn u32(&mut self) -> Result<u32, PackError> {
        self.unsigned(32)
    }

    fn i64(&mut self) -> Result<i64, PackError> {
        self.signed(64)
    }

    fn flag(&mut self) -> Result<bool, PackError> {
        match self.byte()? {
            0 => Ok(false),
            1 => Ok(true),
            b => Err(PackError::new(self.pos - 1, format!("a flag byte {b}"))),
        }
    }

    fn at(&mut self) -> Result<chrono::DateTime<chrono::Utc>, PackError> {
        let start = self.pos;
        let bits = self.instant()?;
        let (secs, nanos) = ((bits >> 32) as i64, (bits & 0xffff_ffff) as u32);
        let (day, second) = (secs.div_euclid(86_400), secs.rem_euclid(86_400) as u32);
        let slot = day.rem_euclid(16) as usize;
        if self.dates[slot].0 != day {
            let date = i32::try_from(day + UNIX_DAY).ok().and_then(chrono::NaiveDate::from_num_days_from_ce_opt);
            let Some(date) = date else {
                return Err(PackError::new(start, "an instant out of range"));
            };
            self.dates[slot] = (day, date);
        }
        let time = chrono::NaiveTime::from_num_seconds_from_midnight_opt(second, nanos)
            .ok_or_else(|| PackError::new(start, "an instant out of range"))?;
        Ok(self.dates[slot].1.and_time(time).and_utc())
    }

    fn amount(&mut self) -> Result<crate::Amount, PackError> {
        let start = self.pos;
        let bits = self.leb(128)?;
        crate::Amount::from_packed(bits).ok_or_else(|| PackError::new(start, crate::Amount::packed_refusal()))
    }

    fn date(&mut self) -> Result<chrono::NaiveDate, PackError> {
        let start = self.pos;
        let days: i32 = self.signed(32)?;
        chrono::NaiveDate::from_num_days_from_ce_opt(days)
            .ok_or_else(|| PackError::new(start, format!("day {days} is out of range")))
    }

    fn serde<T: Deserialize<'de>>(&mut self) -> Result<T, PackError> {
        let value = T::deserialize(&mut *self);
        value.map_err(|e| e.located(self.pos))
    }
}

fn not_self_describing() -> PackError {
    PackError::new(usize::MAX, "a value whose type the packed form cannot tell (it is not self-describing)")
}

impl<'de> de::Deserializer<'de> for &mut Reader<'de> {
    type Error = PackError;

    fn is_human_readable(&self) -> bool {
        false
    }

    fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, PackError> {
        Err(not_self_describing())
    }
    fn deserialize_ignored_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, PackError> {
        Err(not_self_describing())
    }
    fn deserialize_bool<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, PackError> {
        match self.byte()? {
            0 => visitor.visit_bool(false),
            1 => visitor.visit_bool(true),
            b => Err(PackError::new(self.pos - 1, format!("a boolean byte {b}"))),
        }
    }
    fn deserialize_i8<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, PackError> {
        visitor.visit_i8(self.byte()? as i8)
    }
    fn deserialize_i16<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, PackError> {
        visitor.visit_i16(self.signed(16)?)
    }
    fn deserialize_i32<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, PackError> {
        visitor.visit_i32(self.signed(32)?)
    }
    fn deserialize_i64<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, PackError> {
        visitor.visit_i64(self.signed(64)?)
    }
    fn deserialize_i128<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, PackError> {
        visitor.visit_i128(unzigzag(self.leb(128)?))
    }
    fn deserialize_u8<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, PackError> {
        visitor.visit_u8(self.byte()?)
    }
    fn deserialize_u16<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, PackError> {
        visitor.visit_u16(self.unsigned(16)?)
    }
    fn deserialize_u32<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, PackError> {
        visitor.visit_u32(self.unsigned(32)?)
    }
    fn deserialize_u64<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, PackError> {
        visitor.visit_u64(self.unsigned(64)?)
    }
    fn deserialize_u128<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, PackError> {
        visitor.visit_u128(self.leb(128)?)
    }
    fn deserialize_f32<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, PackError> {
        let b = self.take(4)?;
        visitor.visit_f32(f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }
    fn deserialize_f64<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, PackError> {
        let b = self.take(8)?;
        visitor.visit_f64(f64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]))
    }
    fn deserialize_char<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, PackError> {
        let start = self.pos;
        let c: u32 = self.unsigned(32)?;
        let c = char::from_u32(c).ok_or_else(|| PackError::new(start, format!("character {c} is not one")))?;
        visitor.visit_char(c)
    }
    fn deserialize_str<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, PackError> {
        let s = self.str()?;
        visitor.visit_borrowed_str(s)
    }
    fn deserialize_string<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, PackError> {
        self.deserialize_str(visitor)
    }
    fn deserialize_identifier<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, PackError> {
        self.deserialize_str(visitor)
    }
    fn deserialize_bytes<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, PackError> {
        let n = self.len()?;
        visitor.visit_borrowed_bytes(self.take(n)?)
    }
    fn deserialize_byte_buf<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, PackError> {
        self.deserialize_bytes(visitor)
    }
    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, PackError> {
        match self.byte()? {
            0 => visitor.visit_none(),
            1 => visitor.visit_some(self),
            b => Err(PackError::new(self.pos - 1, format!("an option tag {b}"))),
        }
    }
    fn deserialize_unit<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, PackError> {
        visitor.visit_unit()
    }
    fn deserialize_unit_struct<V: Visitor<'de>>(self, _: &'static str, visitor: V) -> Result<V::Value, PackError> {
        visitor.visit_unit()
    }
    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        visitor: V,
    ) -> Result<V::Value, PackError> {
        if name == INSTANT {
            return visitor.visit_i128(self.instant()?);
        }
        visitor.visit_newtype_struct(self)
    }
    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, PackError> {
        let left = self.len()?;
        visitor.visit_seq(Items { r: self, left })
    }
    fn deserialize_tuple<V: Visitor<'de>>(self, len: usize, visitor: V) -> Result<V::Value, PackError> {
        visitor.visit_seq(Items { r: self, left: len })
    }
    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        len: usize,
        visitor: V,
    ) -> Result<V::Value, PackError> {
        self.deserialize_tuple(len, visitor)
    }
    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, PackError> {
        let left = self.len()?;
        visitor.visit_map(Items { r: self, left })
    }
    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, PackError> {
        let start = self.pos;
        let h = self.leb64()?;
        if h & 1 == 1 {
            if h != 1 {
                return Err(PackError::new(start, format!("a struct header {h}")));
            }
            return visitor.visit_map(Named { r: self });
        }
        let bits = h >> 1;
        if fields.len() < 64 && bits >> fields.len() != 0 {
            return Err(PackError::new(
                start,
                format!("a field bitmap {bits:#b} with bits beyond the struct's {} fields", fields.len()),
            ));
        }
        visitor.visit_map(Present { r: self, fields, bits })
    }
    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _: &'static str,
        _: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, PackError> {
        visitor.visit_enum(self)
    }
}

/// A list's, tuple's or map's items.
struct Items<'r, 'de> {
    r: &'r mut Reader<'de>,
    left: usize,
}

impl<'de> de::SeqAccess<'de> for Items<'_, 'de> {
    type Error = PackError;
    fn next_element_seed<T: DeserializeSeed<'de>>(&mut self, seed: T) -> Result<Option<T::Value>, PackError> {
        if self.left == 0 {
            return Ok(None);
        }
        self.left -= 1;
        seed.deserialize(&mut *self.r).map(Some)
    }
    fn size_hint(&self) -> Option<usize> {
        Some(self.left)
    }
}

impl<'de> de::MapAccess<'de> for Items<'_, 'de> {
    type Error = PackError;
    fn next_key_seed<K: DeserializeSeed<'de>>(&mut self, seed: K) -> Result<Option<K::Value>, PackError> {
        if self.left == 0 {
            return Ok(None);
        }
        self.left -= 1;
        seed.deserialize(&mut *self.r).map(Some)
    }
    fn next_value_seed<T: DeserializeSeed<'de>>(&mut self, seed: T) -> Result<T::Value, PackError> {
        seed.deserialize(&mut *self.r)
    }
    fn size_hint(&self) -> Option<usize> {
        Some(self.left)
    }
}

/// A struct's fields by bitmap.
struct Present<'r, 'de> {
    r: &'r mut Reader<'de>,
    fields: &'static [&'static str],
    bits: u64,
}

impl<'de> de::MapAccess<'de> for Present<'_, 'de> {
    type Error = PackError;
    fn next_key_seed<K: DeserializeSeed<'de>>(&mut self, seed: K) -> Result<Option<K::Value>, PackError> {
        if self.bits == 0 {
            return Ok(None);
        }
        let i = self.bits.trailing_zeros() as usize;
        self.bits &= self.bits - 1;
        let name = self.fields.get(i).copied().unwrap_or_default();
        seed.deserialize(de::value::BorrowedStrDeserializer::<PackError>::new(name)).map(Some)
    }
    fn next_value_seed<T: DeserializeSeed<'de>>(&mut self, seed: T) -> Result<T::Value, PackError> {
        seed.deserialize(&mut *self.r)
    }
}

/// A struct's fields by name.
struct Named<'r, 'de> {
    r: &'r mut Reader<'de>,
}

impl<'de> de::MapAccess<'de> for Named<'_, 'de> {
    type Error = PackError;
    fn next_key_seed<K: DeserializeSeed<'de>>(&mut self, seed: K) -> Result<Option<K::Value>, PackError> {
        match self.r.byte()? {
            0 => Ok(None),
            1 => {
                let name = self.r.str()?;
                seed.deserialize(de::value::BorrowedStrDeserializer::<PackError>::new(name)).map(Some)
            }
            b => Err(PackError::new(self.r.pos - 1, format!("a field marker {b}"))),
        }
    }
    fn next_value_seed<T: DeserializeSeed<'de>>(&mut self, seed: T) -> Result<T::Value, PackError> {
        seed.deserialize(&mut *self.r)
    }
}

impl<'de> de::EnumAccess<'de> for &mut Reader<'de> {
    type Error = PackError;
    type Variant = Self;
    fn variant_seed<V: DeserializeSeed<'de>>(self, seed: V) -> Result<(V::Value, Self), PackError> {
        let index: u32 = self.unsigned(32)?;
        let value = seed.deserialize(index.into_deserializer())?;
        Ok((value, self))
    }
}

impl<'de> de::VariantAccess<'de> for &mut Reader<'de> {
    type Error = PackError;
    fn unit_variant(self) -> Result<(), PackError> {
        Ok(())
    }
    fn newtype_variant_seed<T: DeserializeSeed<'de>>(self, seed: T) -> Result<T::Value, PackError> {
        seed.deserialize(self)
    }
    fn tuple_variant<V: Visitor<'de>>(self, len: usize, visitor: V) -> Result<V::Value, PackError> {
        de::Deserializer::deserialize_tuple(self, len, visitor)
    }
    fn struct_variant<V: Visitor<'de>>(
        self,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, PackError> {
        de::Deserializer::deserialize_struct(self, "", fields, visitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Member;

    /// A member with every field of every record a member holds, each list
    /// with more than one item where order matters: the packed form must
    /// carry all of it (the first test checks that nothing is left out).
    const FULL: &str = r#"{
      "format": 1, "id": "m-1", "program": "shop", "enrolled_at": "2026-01-05T10:00:00Z",
      "profile": {"birth_date": "1990-03-10", "attributes": {"segment": "staff", "city": "Köln"}},
      "clock": "2026-04-01T00:00:00.250Z", "next_lot": 5, "next_entry": 20,
      "lots": [
        {"seq": 1, "amount": 75, "remaining": 60, "held": 10, "pending": true, "earned_at": "2026-01-06T10:00:00Z",
         "available_at": "2026-01-07T10:00:00Z", "expires_at": "2027-01-06T10:00:00Z", "source": "p0",
         "origin": "earn", "partner": "fuel", "first_order_only": true},
        {"seq": 2, "amount": -3, "remaining": 0, "earned_at": "2016-12-31T23:59:60.5Z",
         "available_at": "1970-01-01T00:00:00Z", "source": "p0", "origin": "transfer"}
      ],
      "holds": [{"id": "h1", "rule": "pay", "order": "o1", "points": 10, "takes": [{"lot": 1, "expires_at": "2027-01-06T10:00:00Z", "points": 10}],
                 "at": "2026-03-01T10:00:00Z", "timeout_at": "2026-03-01T10:15:00Z", "status": "voided", "closed_at": "2026-03-01T10:05:00Z"}],
      "debt": 7,
      "totals": {"earned": 1, "credited": 2, "refunded": 3, "burned": 4, "debited": 5, "expired": 6, "reversed": 7},
      "days": [{"date": "2026-03-06", "key": "earn:base", "points": 75, "count": 1},
               {"date": "2026-03-06", "key": "purchases:", "points": 0, "count": 1}],
      "lifetime": {"base": 750, "welcome": -1},
      "purchases": [{"event": "p0", "order": "o-0", "at": "2026-01-06T10:00:00Z", "lot": 1, "amount": "1500.50",
                     "returned": "-0.000000000001", "lines": [{"quantity": "1", "returned": "0", "amount": "999999999999999.999999999999", "points": 75, "reversed": 2}]}],
      "burns": [{"event": "r1", "order": "o-1", "at": "2026-02-01T10:00:00Z", "points": 5, "refunded": 1, "takes": [{"lot": 2, "points": 5}]}],
      "recent": [
        {"id": "enroll:m-1", "fingerprint": 18446744073709551615, "at": "2026-01-05T10:00:00Z"},
        {"id": "p0", "fingerprint": 0, "at": "2026-01-06T10:00:00Z", "receipt": {
          "event": "p0", "type": "purchase", "member": "m-1", "at": "2026-01-06T10:00:00Z",
          "entries": [{"seq": 3, "kind": "earn", "points": 75, "at": "2026-01-06T10:00:00Z", "lot": 1, "rule": "base", "reason": "earned"}],
          "explanations": [{"rule": "base", "points": 75, "text": "1 point per 20 EUR: +75"}],
          "balances": {"posted": 75, "pending": 0, "held": 0, "available": 75},
          "next_expiries": [{"at": "2027-01-06T10:00:00Z", "date": "2027-01-06", "points": 75}],
          "shortfall": 3, "paid": "12.50", "notes": ["a note"], "tier": "gold",
          "signals": [
            {"type": "tier_up", "at": "2026-01-06T10:00:00Z", "from": "base", "to": "gold"},
            {"type": "tier_down", "at": "2026-01-06T10:00:00Z", "from": "gold", "to": "base"},
            {"type": "close_to_next_tier", "tier": "gold", "needed": "12.5"},
            {"type": "points_expiring", "points": 75, "at": "2027-01-06T10:00:00Z"},
            {"type": "at_risk", "since": "2026-01-06T10:00:00Z", "at": "2026-03-06T10:00:00Z"},
            {"type": "referral_qualified", "referrer": "m-0", "referee": "m-1"},
            {"type": "challenge_completed", "challenge": "c1", "badge": "b1"},
            {"type": "challenge_completed", "challenge": "c1"},
            {"type": "transfer_sent", "to": "m-2", "points": 10, "expires_at": "2027-01-06T10:00:00Z"},
            {"type": "transfer_sent", "to": "m-2", "points": 10},
            {"type": "reward_unlocked", "reward": "mug", "cost": 500},
            {"type": "lapsed", "since": "2026-01-06T10:00:00Z", "at": "2026-09-06T10:00:00Z"}
          ],
          "variants": [{"campaign": "spring", "variant": "b"}]}}
      ],
      "forgotten": "2026-01-05T09:59:59.5Z",
      "tier": {"current": "gold",
               "days": [{"date": "2026-01-06", "value": "1500", "scripted": "gold", "level": "gold", "until": "2027-01-06T10:00:00Z"}],
               "carried": "10", "holds": [{"level": "gold", "kind": "paid", "since": "2026-01-06T10:00:00Z", "until": "2026-02-06T10:00:00Z"}],
               "history": [{"at": "2026-01-06T10:00:00Z", "from": "base", "to": "gold", "reason": "reached"}]},
      "last_purchase": "2026-01-06T10:00:00Z",
      "rewards": [{"id": "rr1", "reward": "mug", "cost": 500, "takes": [{"lot": 1, "points": 500}], "code": "X-1",
                   "issued_at": "2026-02-01T10:00:00Z", "expires_at": "2026-03-01T10:00:00Z", "status": "used",
                   "closed_at": "2026-02-02T10:00:00Z", "counted": [["stock:mug", 1], ["budget", -2]]}],
      "referred_by": "m-0",
      "challenges": [{"id": "c1", "hits": [["2026-01-06T10:00:00Z", "1500"]], "streak": ["2026-01-05", 3],
                      "completed": ["2026-01-06T10:00:00.123456789Z"], "total": 4}],
      "badges": [{"id": "b1", "at": "2026-01-06T10:00:00Z"}],
      "transfers_in": [["t1", "m-2", "2026-02-01T10:00:00Z"]],
      "status": "suspended",
      "chosen": [["double-tuesday", "2026-03-03"]],
      "referrals": [["m-3", "2026-02-10T10:00:00Z"]]
    }"#;

    fn full() -> Member {
        // Every field filled, not a state the engine could reach: decoded
        // without the checks of `Member::from_json_str` (`member_check`).
        Member::from_json_unchecked(FULL).unwrap_or_else(|e| panic!("the fixture: {e}"))
    }

    fn keys(v: &serde_json::Value, out: &mut std::collections::BTreeSet<String>) {
        match v {
            serde_json::Value::Object(map) => {
                for (k, v) in map {
                    out.insert(k.clone());
                    keys(v, out);
                }
            }
            serde_json::Value::Array(items) => items.iter().for_each(|v| keys(v, out)),
            _ => {}
        }
    }

    #[test]
    fn the_fixture_fills_every_field_of_every_record() {
        use crate::engagement::{Assignment, Badge, ChallengeProgress};
        use crate::member::{
            BurnRecord, DayCount, HoldRecord, LineRecord, Lot, Processed, PurchaseRecord, Take, Totals,
        };
        use crate::receipt::{Balances, Entry, Expiring, Explanation, Receipt};
        use crate::reward::IssuedReward;
        use crate::tier::{TierChange, TierDay, TierHold, TierState};
        let mut present = std::collections::BTreeSet::new();
        keys(&serde_json::from_str(&full().to_json()).unwrap(), &mut present);
        let every: Vec<_> = [
            probe::<Member>(),
            probe::<crate::Profile>(),
            probe::<Lot>(),
            probe::<Take>(),
            probe::<HoldRecord>(),
            probe::<BurnRecord>(),
            probe::<LineRecord>(),
            probe::<PurchaseRecord>(),
            probe::<Totals>(),
            probe::<DayCount>(),
            probe::<Processed>(),
            probe::<Receipt>(),
            probe::<Entry>(),
            probe::<Explanation>(),
            probe::<Balances>(),
            probe::<Expiring>(),
            probe::<Assignment>(),
            probe::<TierState>(),
            probe::<TierDay>(),
            probe::<TierHold>(),
            probe::<TierChange>(),
            probe::<IssuedReward>(),
            probe::<ChallengeProgress>(),
            probe::<Badge>(),
        ]
        .into_iter()
        .flatten()
        .collect();
        assert_eq!(every.len(), 24, "a probe found nothing");
        assert_eq!(field_lists().len(), 8, "a struct name appears twice, or a probe found nothing");
        for (name, fields) in every {
            for f in fields {
                assert!(present.contains(*f), "the fixture has no '{f}' of {name}");
            }
        }
    }

    #[test]
    fn every_field_comes_back() {
        let m = full();
        let bytes = m.to_bytes();
        let back = member_from_bytes(&bytes).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(back, m);
        assert_eq!(back.to_json(), m.to_json());
        assert_eq!(back.to_bytes(), bytes, "the same state, the same bytes");
        // Much smaller than the JSON form.
        assert!(bytes.len() * 3 < m.to_json().len(), "{} bytes against {} of JSON", bytes.len(), m.to_json().len());
    }

    #[test]
    fn bad_bytes_are_refused_with_their_offset() {
        let bytes = full().to_bytes();
        let err = |b: &[u8]| Member::from_bytes(b).unwrap_err().to_string();
        assert!(err(b"").contains("empty input"), "{}", err(b""));
        assert!(err(b"LM").contains("byte 2: the input ends"), "{}", err(b"LM"));
        assert!(err(b"LM\x02").contains("version 2"), "{}", err(b"LM\x02"));
        // Cut anywhere: refused, never a panic.
        for n in 3..bytes.len() {
            let e = err(&bytes[..n]);
            assert!(e.contains("packed member, byte"), "{n}: {e}");
        }
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(err(&longer).contains("1 bytes left over"), "{}", err(&longer));
        // The member's format is checked as the JSON form checks it.
        let mut m = full();
        m.format = 99;
        let e = Member::from_bytes(&m.to_bytes()).unwrap_err().to_string();
        assert!(e.contains("format 99 is not readable"), "{e}");
    }

    #[test]
    fn every_byte_changed_decodes_or_is_refused() {
        let bytes = full().to_bytes();
        for i in 0..bytes.len() {
            for v in [0_u8, 1, 0x7f, 0x80, 0xff, bytes[i] ^ 1] {
                let mut b = bytes.clone();
                b[i] = v;
                if let Ok(m) = member_from_bytes(&b) {
                    // Whatever decodes is a member the JSON form carries too.
                    assert_eq!(Member::from_json_unchecked(&m.to_json()).as_ref(), Ok(&m), "byte {i} = {v}");
                    assert_eq!(member_from_bytes(&m.to_bytes()).as_ref(), Ok(&m), "byte {i} = {v}");
                    // And the checks of the state refuse it or take it, without a panic.
                    let _ = Member::from_bytes(&b);
                }
            }
        }
    }

    /// Outside a pack, even a non-human-readable serializer (here the
    /// packed form's own writer, called directly) sees an amount and an
    /// instant as their text, as CBOR or bincode users did before.
    #[test]
    fn other_formats_see_the_usual_encodings() {
        let amount: crate::Amount = "12.50".parse().unwrap();
        let mut w = Writer::default();
        amount.serialize(&mut w).unwrap();
        assert_eq!(w.out, b"\x0a12.50");
        let mut w = Writer::default();
        let t: chrono::DateTime<chrono::Utc> = "2026-03-01T10:00:00Z".parse().unwrap();
        crate::time::instant::serialize(&t, &mut w).unwrap();
        assert_eq!(w.out, b"\x282026-03-01T10:00:00Z");
        assert!(!PACKING.with(std::cell::Cell::get));
    }

    #[test]
    fn numbers_at_their_limits() {
        let mut out = Vec::new();
        for v in [0_u128, 1, 127, 128, u128::from(u64::MAX), u128::MAX] {
            out.clear();
            leb(&mut out, v);
            let mut r = Reader::new(&out, 0);
            assert_eq!(r.leb(128), Ok(v));
            assert_eq!(r.pos, out.len());
        }
        for v in [0_i128, -1, 1, i128::from(i64::MIN), i128::MAX, i128::MIN] {
            assert_eq!(unzigzag(zigzag(v)), v);
        }
        // A u64 one bit too long, and a LEB128 number past 128 bits.
        let mut out = Vec::new();
        leb(&mut out, 1 << 64);
        let mut r = Reader::new(&out, 0);
        assert!(r.unsigned::<u64>(64).unwrap_err().what.contains("longer than 64 bits"));
        let long = [0xff_u8; 20];
        let mut r = Reader::new(&long, 0);
        assert!(r.leb(128).unwrap_err().what.contains("longer than 128 bits"));
    }

    #[test]
    fn instants_at_chrono_s_ends_and_in_a_leap_second() {
        use chrono::{DateTime, Utc};
        let mut w = Writer::default();
        let ts = [
            DateTime::<Utc>::MIN_UTC,
            DateTime::<Utc>::MAX_UTC,
            "2016-12-31T23:59:60.5Z".parse().unwrap(),
            "1970-01-01T00:00:00Z".parse().unwrap(),
            "2026-03-01T10:00:00.000000001Z".parse().unwrap(),
        ];
        for t in &ts {
            w.instant(instant_bits(t));
        }
        let mut r = Reader::new(&w.out, 0);
        for t in &ts {
            assert_eq!(instant_of(r.instant().unwrap()), Some(*t));
        }
        assert_eq!(r.pos, w.out.len());
    }
}
