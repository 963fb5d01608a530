//! Exact numbers: decimal amounts, rounding, points.
//!
//! Money, quantities, rates and percents are [`Amount`]s: decimals parsed
//! strictly from strings (`"12.50"`) or integers (`12`). Floats are refused,
//! because `0.1` as a float is not one tenth; so are exponents (`1e3`),
//! underscores, signs other than a leading `-`, more than
//! [`Amount::FRACTION_DIGITS_MAX`] fraction digits or more than
//! [`Amount::INTEGER_DIGITS_MAX`] integer digits. Points are `i64` integers in
//! the program's smallest point unit.

use std::fmt;
use std::str::FromStr;

use rust_decimal::{Decimal, RoundingStrategy};
use serde::{Deserialize, Serialize};

/// Points, as an integer count of the program's smallest point unit.
///
/// With `points.scale = 0` one unit is one point; with `scale = 2` the value
/// `1250` means 12.50 points.
pub type Points = i64;

/// An exact decimal number: a money amount, a quantity, a rate or a percent.
///
/// ```
/// use loyalty::Amount;
/// let price: Amount = "199.90".parse().unwrap();
/// assert_eq!(price.to_string(), "199.90");
/// assert!("1e3".parse::<Amount>().is_err());
/// assert!("0.1234567890123".parse::<Amount>().is_err()); // 13 fraction digits
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct Amount(Decimal);

/// Equal amounts (`1.5` and `1.50`) hash alike: the value is hashed as its
/// mantissa and scale without trailing zeros, stripped in 64 bits when the
/// mantissa fits (far cheaper than `Decimal::normalize`).
impl std::hash::Hash for Amount {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        let (mut mantissa, mut scale) = (self.0.mantissa(), self.0.scale());
        if let Ok(mut small) = i64::try_from(mantissa) {
            while scale > 0 && small % 10 == 0 {
                small /= 10;
                scale -= 1;
            }
            mantissa = i128::from(small);
        } else {
            while scale > 0 && mantissa % 10 == 0 {
                mantissa /= 10;
                scale -= 1;
            }
        }
        state.write_i128(mantissa);
        state.write_u32(scale);
    }
}

impl Amount {
    /// The most fraction digits an amount may have.
    pub const FRACTION_DIGITS_MAX: usize = 12;
    /// The most integer digits an amount may have.
    pub const INTEGER_DIGITS_MAX: usize = 15;
    /// Zero.
    pub const ZERO: Amount = Amount(Decimal::ZERO);

    /// The amount as a `rust_decimal::Decimal`.
    ///
    /// ```
    /// let a: loyalty::Amount = "2.5".parse().unwrap();
    /// assert_eq!(a.decimal(), rust_decimal::Decimal::new(25, 1));
    /// ```
    pub fn decimal(self) -> Decimal {
        self.0
    }

    /// An amount from a whole number.
    ///
    /// ```
    /// assert_eq!(loyalty::Amount::from_int(10).to_string(), "10");
    /// ```
    pub fn from_int(value: i64) -> Amount {
        Amount(Decimal::from(value))
    }

    /// True when the amount is below zero.
    ///
    /// ```
    /// assert!("-1".parse::<loyalty::Amount>().unwrap().is_negative());
    /// ```
    pub fn is_negative(self) -> bool {
        self.0.is_sign_negative() && !self.0.is_zero()
    }

    /// True when the amount is zero.
    ///
    /// ```
    /// assert!("0.00".parse::<loyalty::Amount>().unwrap().is_zero());
    /// ```
    pub fn is_zero(self) -> bool {
        self.0.is_zero()
    }

    pub(crate) fn from_decimal(value: Decimal) -> Amount {
        Amount(value)
    }
}

pub(crate) fn amount_is_zero(a: &Amount) -> bool {
    a.is_zero()
}

/// Why a text is not an [`Amount`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("'{text}' is not an exact decimal amount: {reason}")]
pub struct AmountError {
    text: String,
    reason: &'static str,
}

impl FromStr for Amount {
    type Err = AmountError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let fail = |reason| AmountError {
            // Keep the message short even for a 10 KB input.
            text: text.chars().take(40).collect(),
            reason,
        };
        let digits = text.strip_prefix('-').unwrap_or(text);
        let (int, frac) = match digits.split_once('.') {
            Some((i, f)) => (i, Some(f)),
            None => (digits, None),
        };
        if int.is_empty() || !int.bytes().all(|b| b.is_ascii_digit()) {
            return Err(fail("expected digits with an optional '-' and '.' (no exponent, sign '+', spaces or '_')"));
        }
        if int.trim_start_matches('0').len() > Amount::INTEGER_DIGITS_MAX {
            return Err(fail("more than 15 integer digits"));
        }
        if let Some(frac) = frac {
            if frac.is_empty() || !frac.bytes().all(|b| b.is_ascii_digit()) {
                return Err(fail("expected digits after '.'"));
            }
            if frac.len() > Amount::FRACTION_DIGITS_MAX {
                return Err(fail("more than 12 fraction digits"));
            }
        }
        Decimal::from_str_exact(text).map(Amount).map_err(|_| fail("out of range"))
    }
}

impl fmt::Display for Amount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl Serialize for Amount {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if crate::pack::active(&s) {
            return s.serialize_u128(self.packed());
        }
        s.collect_str(&self.0)
    }
}

impl Amount {
    /// The amount in the packed form (see `crate::pack`): |mantissa| × 64 +
    /// scale × 2 + sign, one number that keeps the written scale. A zero is
    /// never negative, as in the text form (which reads `-0` as `0`).
    pub(crate) fn packed(&self) -> u128 {
        let m = self.0.mantissa().unsigned_abs();
        (m << 6) | (u128::from(self.0.scale()) << 1) | u128::from(m != 0 && self.0.is_sign_negative())
    }

    /// Why [`Amount::from_packed`] refused a number.
    pub(crate) fn packed_refusal() -> String {
        format!(
            "an amount the text form cannot carry (over {} integer or {} fraction digits, or a negative zero)",
            Amount::INTEGER_DIGITS_MAX,
            Amount::FRACTION_DIGITS_MAX
        )
    }

    /// The amount of [`Amount::packed`]'s number, if it is one the text
    /// form could also carry.
    pub(crate) fn from_packed(bits: u128) -> Option<Amount> {
        let scale = ((bits >> 1) & 31) as u32;
        if scale as usize > Amount::FRACTION_DIGITS_MAX {
            return None;
        }
        // At most 15 integer digits: |mantissa| < 10^(15 + scale) (< 2^96).
        let m = i128::try_from(bits >> 6).ok()?;
        if m >= pow10(Amount::INTEGER_DIGITS_MAX as u32 + scale)? || (m == 0 && bits & 1 == 1) {
            return None;
        }
        let mut d = Decimal::from_i128_with_scale(m, scale);
        d.set_sign_negative(bits & 1 == 1);
        Some(Amount(d))
    }
}

impl<'de> Deserialize<'de> for Amount {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = Amount;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a decimal amount as a string like \"12.50\", or an integer")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Amount, E> {
                v.parse().map_err(E::custom)
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Amount, E> {
                v.to_string().parse().map_err(E::custom)
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Amount, E> {
                v.to_string().parse().map_err(E::custom)
            }
            fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Amount, E> {
                Err(E::custom(format!(
                    "a floating-point number (read as {v}); write amounts as strings (\"12.50\") so they stay exact"
                )))
            }
        }
        if crate::pack::reading(&d) {
            struct Packed;
            impl serde::de::Visitor<'_> for Packed {
                type Value = Amount;
                fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                    f.write_str("a packed amount")
                }
                fn visit_u128<E: serde::de::Error>(self, v: u128) -> Result<Amount, E> {
                    Amount::from_packed(v).ok_or_else(|| E::custom(Amount::packed_refusal()))
                }
            }
            return d.deserialize_u128(Packed);
        }
        d.deserialize_any(Visitor)
    }
}

/// How a fractional number of points becomes a whole number of point units.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Rounding {
    /// Toward negative infinity: 12.9 → 12.
    #[default]
    Floor,
    /// Toward positive infinity: 12.1 → 13.
    Ceil,
    /// To nearest, halves away from zero: 12.5 → 13.
    HalfUp,
    /// To nearest, halves to even: 12.5 → 12, 13.5 → 14.
    HalfEven,
}

impl Rounding {
    /// Rounds `value` to `scale` fraction digits.
    ///
    /// ```
    /// use loyalty::Rounding;
    /// use rust_decimal::Decimal;
    /// assert_eq!(Rounding::HalfEven.round(Decimal::new(125, 1), 0), Decimal::new(12, 0));
    /// assert_eq!(Rounding::Floor.round(Decimal::new(-125, 1), 0), Decimal::new(-13, 0));
    /// ```
    pub fn round(self, value: Decimal, scale: u32) -> Decimal {
        let strategy = match self {
            Rounding::Floor => RoundingStrategy::ToNegativeInfinity,
            Rounding::Ceil => RoundingStrategy::ToPositiveInfinity,
            Rounding::HalfUp => RoundingStrategy::MidpointAwayFromZero,
            Rounding::HalfEven => RoundingStrategy::MidpointNearestEven,
        };
        value.round_dp_with_strategy(scale, strategy)
    }
}

/// Where a rule's points are rounded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RoundAt {
    /// Sum the rule's exact points over the basket, then round once.
    #[default]
    PerTransaction,
    /// Round the rule's points on each line, then sum.
    PerLine,
}

/// Formats point units as points: `1250` at scale 2 → `12.50`.
///
/// ```
/// assert_eq!(loyalty::format_points(1250, 2), "12.50");
/// assert_eq!(loyalty::format_points(-7, 0), "-7");
/// ```
pub fn format_points(units: Points, scale: u32) -> String {
    PointsText(units, scale).to_string()
}

/// Point units shown as points, without building a decimal.
pub(crate) struct PointsText(pub(crate) Points, pub(crate) u32);

impl fmt::Display for PointsText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let PointsText(units, scale) = *self;
        if scale == 0 {
            return write!(f, "{units}");
        }
        let unit = 10_u64.pow(scale);
        let magnitude = units.unsigned_abs();
        let sign = if units < 0 { "-" } else { "" };
        write!(f, "{sign}{}.{:0width$}", magnitude / unit, magnitude % unit, width = scale as usize)
    }
}

/// Money inside the engine: an `i128` count of 10⁻¹² currency units.
///
/// Every [`Amount`] fits exactly (at most 12 fraction digits and 15 integer
/// digits, so at most 10²⁷ here); a basket's total is bounded to the same 15
/// integer digits. Earn arithmetic on these integers is exact, and far faster
/// than general decimal arithmetic.
pub(crate) type Money = i128;

/// Fraction digits of [`Money`].
pub(crate) const MONEY_SCALE: u32 = 12;

/// One currency unit as [`Money`].
pub(crate) const MONEY_ONE: Money = 1_000_000_000_000;

/// 10^`exp` as an `i128`, or `None` past 10³⁸.
pub(crate) fn pow10(exp: u32) -> Option<i128> {
    // A table: `checked_pow` multiplies in a loop, and prices need this for every line.
    const POWERS: [i128; 39] = {
        let mut t = [1_i128; 39];
        let mut i = 1;
        while i < 39 {
            t[i] = t[i - 1] * 10;
            i += 1;
        }
        t
    };
    POWERS.get(exp as usize).copied()
}

/// A decimal as [`Money`], or `None` when it has more than 12 significant
/// fraction digits or is too large.
pub(crate) fn to_money(value: Decimal) -> Option<Money> {
    let (m, s) = (value.mantissa(), value.scale());
    if s <= MONEY_SCALE {
        mul(m, pow10(MONEY_SCALE - s)?)
    } else {
        let d = pow10(s - MONEY_SCALE)?;
        (m % d == 0).then(|| m / d)
    }
}

/// A non-negative decimal's mantissa and scale when the mantissa fits 64
/// bits (every price, quantity and discount in practice), read from the
/// decimal's documented 16-byte form (flags, then the mantissa's low, middle
/// and high 32 bits, little-endian) without building an `i128`. `None` for
/// a negative decimal (`-0` too) or a wider mantissa.
#[inline(always)]
pub(crate) fn small_parts(d: Decimal) -> Option<(u64, u32)> {
    const SIGN: u32 = 0x8000_0000;
    let b = d.serialize();
    let flags = u32::from_le_bytes([b[0], b[1], b[2], b[3]]);
    let hi = u32::from_le_bytes([b[12], b[13], b[14], b[15]]);
    if hi != 0 || flags & SIGN != 0 {
        return None;
    }
    let mantissa = u64::from_le_bytes([b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11]]);
    Some((mantissa, (flags >> 16) & 0xff))
}

/// [`Money`] as a normalized decimal (no trailing zeros), or `None` when it
/// does not fit a decimal's 96-bit mantissa.
#[inline]
pub(crate) fn money_to_decimal(m: Money) -> Option<Decimal> {
    let mut scale = MONEY_SCALE;
    // In 64 bits when it fits (almost always): i128 division is slow.
    if let Ok(mut small) = i64::try_from(m) {
        if small == 0 {
            return Some(Decimal::ZERO);
        }
        // Trailing zeros (at most 12 are stripped) by halves: 8, 4, 2, 1.
        // Most amounts have 8 to 12 of them.
        for (zeros, unit) in [(8, 100_000_000), (4, 10_000), (2, 100), (1, 10)] {
            if scale >= zeros && small % unit == 0 {
                small /= unit;
                scale -= zeros;
            }
        }
        return Some(Decimal::new(small, scale));
    }
    let mut m = m;
    while scale > 0 && m % 10 == 0 {
        m /= 10;
        scale -= 1;
    }
    Decimal::try_from_i128_with_scale(m, scale).ok()
}

/// Divides `a` by `b > 0` and rounds the exact quotient to an integer as
/// `mode` says. No precision is lost: the remainder decides.
pub(crate) fn round_div(a: i128, b: i128, mode: Rounding) -> i128 {
    debug_assert!(b > 0);
    // a = q·b + r, 0 ≤ r < b; in 64 bits when both fit (several times faster).
    let (q, r) = match (u64::try_from(a), u64::try_from(b)) {
        // Points are mostly earned (a ≥ 0): one unsigned division.
        (Ok(a), Ok(b)) => (i128::from(a / b), i128::from(a % b)),
        _ => match (i64::try_from(a), i64::try_from(b)) {
            (Ok(a), Ok(b)) => (i128::from(a.div_euclid(b)), i128::from(a.rem_euclid(b))),
            _ => (a.div_euclid(b), a.rem_euclid(b)),
        },
    };
    if r == 0 {
        return q;
    }
    // Compare r with b − r rather than 2r with b: no overflow.
    let above_half = r > b - r;
    let half = r == b - r;
    match mode {
        Rounding::Floor => q,
        Rounding::Ceil => q + 1,
        // Away from zero at the midpoint: up for positive quotients, down
        // (that is, keep q) for negative ones.
        Rounding::HalfUp => q + i128::from(above_half || (half && q >= 0)),
        Rounding::HalfEven => q + i128::from(above_half || (half && q % 2 != 0)),
    }
}

/// `a × b / c` and its remainder for `c > 0`, exact even when `a × b` does
/// not fit 128 bits (then by long division over the 256-bit product). The
/// quotient saturates at `u128::MAX` (with remainder 0) when it does not fit.
pub(crate) fn mul_div_rem(a: u128, b: u128, c: u128) -> (u128, u128) {
    debug_assert!(c > 0 && c < 1 << 127);
    if let (Ok(a), Ok(b), Ok(c)) = (u64::try_from(a), u64::try_from(b), u64::try_from(c)) {
        // In 64 bits when the product fits (a split of a basket's points, almost always).
        if let Some(p) = a.checked_mul(b) {
            return (u128::from(p / c), u128::from(p % c));
        }
    }
    if let Some(p) = a.checked_mul(b) {
        return (p / c, p % c);
    }
    // 256-bit product as (hi, lo) from 64-bit limbs.
    let (a1, a0) = (a >> 64, a & u128::from(u64::MAX));
    let (b1, b0) = (b >> 64, b & u128::from(u64::MAX));
    let (p00, p01, p10, p11) = (a0 * b0, a0 * b1, a1 * b0, a1 * b1);
    let mid = (p00 >> 64) + (p01 & u128::from(u64::MAX)) + (p10 & u128::from(u64::MAX));
    let lo = (p00 & u128::from(u64::MAX)) | (mid << 64);
    let hi = p11 + (p01 >> 64) + (p10 >> 64) + (mid >> 64);
    if hi >= c {
        return (u128::MAX, 0);
    }
    let (mut q, mut r) = (0_u128, 0_u128);
    for bit in (0..256).rev() {
        let next = if bit >= 128 { (hi >> (bit - 128)) & 1 } else { (lo >> bit) & 1 };
        r = (r << 1) | next; // r < c < 2¹²⁷, so no overflow
        q <<= 1;
        if r >= c {
            r -= c;
            q |= 1;
        }
    }
    (q, r)
}

/// `a × b`, or `None` on overflow; one 64 × 64 → 128-bit multiplication when
/// both fit an `i64` (their product always fits an `i128`), several times
/// cheaper than a checked 128-bit multiplication.
#[inline]
pub(crate) fn mul(a: i128, b: i128) -> Option<i128> {
    match (i64::try_from(a), i64::try_from(b)) {
        (Ok(a), Ok(b)) => Some(i128::from(a) * i128::from(b)),
        _ => a.checked_mul(b),
    }
}

/// `a / b` truncated, in 64 bits when both fit.
#[inline]
pub(crate) fn div_fast(a: i128, b: i128) -> i128 {
    match (i64::try_from(a), i64::try_from(b)) {
        (Ok(a), Ok(b)) if b != 0 => i128::from(a / b),
        _ => a / b,
    }
}

/// The least `e` such that `den` divides 10^`e`, for `den > 0`; `u8::MAX`
/// when there is none (`den` has a prime factor other than 2 and 5) or it
/// is past 10³⁸.
///
/// A rate of `num / den` in lowest terms gives whole (exact) fine points
/// on every amount that is a multiple of 10^`e`.
pub(crate) fn decimal_exp(den: i128) -> u8 {
    let mut power: i128 = 1;
    for e in 0..=38 {
        if power % den == 0 {
            return e;
        }
        match power.checked_mul(10) {
            Some(next) => power = next, // up to 10³⁸ < 2¹²⁷
            None => break,
        }
    }
    u8::MAX
}

/// Greatest common divisor of two non-negative integers.
pub(crate) fn gcd(mut a: u128, mut b: u128) -> u128 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

/// The 8 bytes of `b` from `at`, little-endian (one load, no copy).
#[inline(always)]
pub(crate) fn le64(b: &[u8], at: usize) -> u64 {
    let mut w = [0; 8];
    w.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(w)
}

/// The 4 bytes of `b` from `at`, little-endian, widened.
#[inline(always)]
pub(crate) fn le32(b: &[u8], at: usize) -> u64 {
    let mut w = [0; 4];
    w.copy_from_slice(&b[at..at + 4]);
    u64::from(u32::from_le_bytes(w))
}

/// A fast, keyless 64-bit hasher that reads bytes as little-endian words,
/// so a fingerprint is the same on every platform. Also the (fast,
/// short-key) hasher of the program's category table.
///
/// Each 64-bit word `w` steps the state as `h = (rotl(h, 26) ^ w) × K`
/// (`K` odd): one multiplication per 8 bytes instead of one per byte, and for
/// a given word the step is a bijection, so no two states ever merge. A byte
/// string of `n` bytes XORs `n` into the state, then steps with its whole
/// words and one last word that covers the bytes left: the last 8 bytes
/// (overlapping the words before) when `n > 8`, two 4-byte reads (first and
/// last four) for 4 ≤ `n` < 8, or the first, middle and last byte for
/// `n` < 4 — all fixed-size little-endian reads, no copy. `finish` folds the
/// high half into the low half (hash tables index by the low bits).
pub(crate) struct StableHasher(u64);

impl Default for StableHasher {
    fn default() -> Self {
        StableHasher::new()
    }
}

impl StableHasher {
    const K: u64 = 0x9e37_79b9_7f4a_7c15;

    pub(crate) fn new() -> Self {
        StableHasher(0x243f_6a88_85a3_08d3)
    }

    #[inline]
    fn step(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(26) ^ word).wrapping_mul(Self::K);
    }
}

impl std::hash::Hasher for StableHasher {
    fn finish(&self) -> u64 {
        self.0 ^ (self.0 >> 32)
    }
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let n = bytes.len();
        self.0 ^= n as u64;
        let last = if n >= 8 {
            let whole = (n - 1) / 8; // the last word is read apart
            for k in 0..whole {
                self.step(le64(bytes, 8 * k));
            }
            le64(bytes, n - 8)
        } else if n >= 4 {
            le32(bytes, 0) | le32(bytes, n - 4) << 32
        } else if n > 0 {
            u64::from(bytes[0]) | u64::from(bytes[n / 2]) << 8 | u64::from(bytes[n - 1]) << 16
        } else {
            0
        };
        self.step(last);
    }
    fn write_u8(&mut self, i: u8) {
        self.step(u64::from(i));
    }
    fn write_u16(&mut self, i: u16) {
        self.step(u64::from(i));
    }
    fn write_u32(&mut self, i: u32) {
        self.step(u64::from(i));
    }
    fn write_u64(&mut self, i: u64) {
        self.step(i);
    }
    fn write_u128(&mut self, i: u128) {
        self.step(i as u64);
        self.step((i >> 64) as u64);
    }
    fn write_usize(&mut self, i: usize) {
        self.step(i as u64);
    }
    fn write_i8(&mut self, i: i8) {
        self.write_u8(i as u8);
    }
    fn write_i16(&mut self, i: i16) {
        self.write_u16(i as u16);
    }
    fn write_i32(&mut self, i: i32) {
        self.write_u32(i as u32);
    }
    fn write_i64(&mut self, i: i64) {
        self.write_u64(i as u64);
    }
    fn write_i128(&mut self, i: i128) {
        self.write_u128(i as u128);
    }
    fn write_isize(&mut self, i: isize) {
        self.write_u64(i as i64 as u64);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_parse_strictly() {
        for good in ["0", "12", "-3", "199.90", "0.000000000001", "999999999999999"] {
            assert!(good.parse::<Amount>().is_ok(), "{good}");
        }
        for bad in [
            "",
            "-",
            "1e3",
            "+1",
            " 1",
            "1_000",
            "1.",
            ".5",
            "NaN",
            "inf",
            "1.0000000000001",
            "1000000000000000",
            "١٢",
            "0x10",
        ] {
            assert!(bad.parse::<Amount>().is_err(), "{bad}");
        }
        let thirty = format!("0.{}", "1".repeat(30));
        assert!(thirty.parse::<Amount>().is_err());
    }

    #[test]
    fn amounts_refuse_floats_in_json() {
        let err = serde_json::from_str::<Amount>("0.1").unwrap_err();
        assert!(err.to_string().contains("floating-point"));
        assert_eq!(serde_json::from_str::<Amount>("\"0.1\"").unwrap().to_string(), "0.1");
        assert_eq!(serde_json::from_str::<Amount>("7").unwrap().to_string(), "7");
    }

    #[test]
    fn stable_hash_is_fixed() {
        use std::hash::{Hash, Hasher};
        let hash = |v: &dyn Fn(&mut StableHasher)| {
            let mut h = StableHasher::new();
            v(&mut h);
            h.finish()
        };
        // Pinned: a change would make stored members see old events as new payloads.
        assert_eq!(hash(&|h| ("abc", 5_u64, -1_i32).hash(h)), 4_936_791_308_501_620_504);
        assert_eq!(hash(&|h| h.write(b"0123456789abcdef!")), 9_693_820_336_664_125_253);
        // Trailing zero bytes, word boundaries and splits all count.
        let texts: [&[u8]; 6] = [b"", b"\0", b"\0\0\0\0\0\0\0\0", b"abcdefgh", b"abcdefgh\0", b"abcdefg"];
        let mut seen: Vec<u64> = texts.iter().map(|t| hash(&|h| h.write(t))).collect();
        seen.push(hash(&|h| {
            h.write(b"abcd");
            h.write(b"efgh")
        }));
        let n = seen.len();
        seen.sort_unstable();
        seen.dedup();
        assert_eq!(seen.len(), n);
        // Equal amounts hash alike, whatever their trailing zeros.
        let amount = |t: &str| hash(&|h| t.parse::<Amount>().unwrap().hash(h));
        assert_eq!(amount("245.00"), amount("245"));
        assert_eq!(amount("0.000"), amount("0"));
        assert_eq!(amount("-0"), amount("0"));
        assert_ne!(amount("245.01"), amount("245.1"));
        assert_eq!(amount("999999999999999.999999999990"), amount("999999999999999.99999999999"));
    }

    /// The parts read from the 16-byte form are the decimal's own.
    #[test]
    fn small_parts_are_the_decimals_parts() {
        for text in [
            "0",
            "245.00",
            "180.5",
            "0.000000000001",
            "18446744073709551615",
            "18446744073709551616",
            "-1",
            "-0",
            "-0.00",
            "79228162514264337593543950335",
            "1.2345678901234567890123456789",
        ] {
            let d: Decimal = text.parse().unwrap();
            let want = match u64::try_from(d.mantissa()) {
                Ok(m) if !d.is_sign_negative() => Some((m, d.scale())),
                _ => None,
            };
            assert_eq!(small_parts(d), want, "{text}");
        }
    }

    #[test]
    fn decimal_exp_is_the_least_power_of_ten_divided() {
        for (den, exp) in
            [(1, 0), (10, 1), (2, 1), (5, 1), (4, 2), (25, 2), (8, 3), (1_000_000_000_000, 12), (3, u8::MAX)]
        {
            assert_eq!(decimal_exp(den), exp, "{den}");
        }
        assert_eq!(decimal_exp(2_i128.pow(126)), u8::MAX);
        for den in 1..=1000_i128 {
            let e = decimal_exp(den);
            if e != u8::MAX {
                assert_eq!(10_i128.pow(u32::from(e)) % den, 0, "{den}");
                assert!(e == 0 || 10_i128.pow(u32::from(e) - 1) % den != 0, "{den}");
            }
        }
    }

    #[test]
    fn round_div_matches_decimal_rounding() {
        let modes = [Rounding::Floor, Rounding::Ceil, Rounding::HalfUp, Rounding::HalfEven];
        for a in -60_i128..=60 {
            for b in 1_i128..=12 {
                for mode in modes {
                    let exact = Decimal::from_i128_with_scale(a, 0) / Decimal::from_i128_with_scale(b, 0);
                    let want = i128::try_from(mode.round(exact, 0)).unwrap();
                    assert_eq!(round_div(a, b, mode), want, "{a}/{b} {mode:?}");
                }
            }
        }
        // Around the 64-bit paths' edges: the same as the 128-bit division.
        let edges = [i128::from(i64::MAX), 1 << 63, (1 << 64) - 1, 1 << 64, 1 << 100];
        for a in edges.iter().flat_map(|&e| [e - 1, e, e + 1, -e]) {
            for b in [1, 3, 1_000_000_007, (1 << 63) + 1, (1 << 64) - 1, 1 << 64] {
                let (q, r) = (a.div_euclid(b), a.rem_euclid(b));
                assert_eq!(round_div(a, b, Rounding::Floor), q, "{a}/{b}");
                assert_eq!(round_div(a, b, Rounding::Ceil), q + i128::from(r != 0), "{a}/{b}");
            }
        }
    }

    #[test]
    fn powers_of_ten() {
        for exp in 0..45 {
            assert_eq!(pow10(exp), 10_i128.checked_pow(exp), "10^{exp}");
        }
    }

    #[test]
    fn fast_products_agree_with_checked_ones() {
        let edges =
            [0, 1, -1, 7, i128::from(i64::MAX), i128::from(i64::MIN), 1 << 63, -(1 << 63) - 1, 1 << 100, i128::MAX];
        for a in edges {
            for b in edges {
                assert_eq!(mul(a, b), a.checked_mul(b), "{a} × {b}");
            }
        }
        for (a, b, c) in
            [(520_u128, 490_000_000_000_000, 3_460_000_000_000_000), (u128::from(u64::MAX), 2, 3), (5, 7, 1)]
        {
            assert_eq!(mul_div_rem(a, b, c), (a * b / c, a * b % c));
        }
        assert_eq!(money_to_decimal(120_000_000_000_000), Some(Decimal::new(120, 0)));
        assert_eq!(money_to_decimal(100_000), Some(Decimal::new(1, 7)));
        assert_eq!(money_to_decimal(-2_500_000_000_000), Some(Decimal::new(-25, 1)));
    }

    #[test]
    fn mul_div_rem_is_exact_past_128_bits() {
        assert_eq!(mul_div_rem(7, 5, 3), (11, 2));
        let a = u128::MAX / 3;
        // a × 6 / 9 = a × 2 / 3 exactly, though a × 6 overflows.
        let (q, r) = mul_div_rem(a, 6, 9);
        assert_eq!((q, r), ((a / 3) * 2 + (a % 3) * 2 / 3, (a % 3) * 6 % 9));
        assert_eq!(mul_div_rem(1 << 100, 1 << 100, 1 << 80), (1 << 120, 0));
        assert_eq!(mul_div_rem(u128::MAX, u128::MAX, 3), (u128::MAX, 0));
    }

    /// An amount hashes as its normalized mantissa and scale, whatever the
    /// trailing zeros: the fingerprints members store depend on it.
    #[test]
    fn amounts_hash_as_normalized() {
        use std::hash::{Hash, Hasher};
        let hash = |f: &dyn Fn(&mut StableHasher)| {
            let mut h = StableHasher::new();
            f(&mut h);
            h.finish()
        };
        for digits in [0_i128, 1, 7, 25, 120, 123_456_789, 999_999, 9_223_372_036_854_775_807] {
            for zeros in 0..29 {
                let Some(m) = digits.checked_mul(10_i128.pow(zeros)) else { continue };
                for scale in 0..=28 {
                    for m in [m, -m] {
                        let Ok(d) = Decimal::try_from_i128_with_scale(m, scale) else { continue };
                        let n = d.normalize();
                        let want = hash(&|h| {
                            h.write_i128(n.mantissa());
                            h.write_u32(n.scale());
                        });
                        assert_eq!(hash(&|h| Amount(d).hash(h)), want, "{m} scale {scale}");
                    }
                }
            }
        }
    }

    #[test]
    fn money_conversions() {
        assert_eq!(to_money(Decimal::new(1999, 2)), Some(19_990_000_000_000));
        assert_eq!(to_money(Decimal::new(1, 13)), None);
        assert_eq!(to_money(Decimal::new(10, 13)), Some(1));
        assert_eq!(money_to_decimal(19_990_000_000_000), Some(Decimal::new(1999, 2)));
        assert_eq!(money_to_decimal(0), Some(Decimal::ZERO));
        let big = 10_i128.pow(26) + 1; // past i64
        assert_eq!(money_to_decimal(big), Some(Decimal::from_i128_with_scale(big, 12)));
        assert_eq!(money_to_decimal(-1_500_000_000_000), Some(Decimal::new(-15, 1)));
        // Normalized, to the digit: every count of trailing zeros, both signs.
        for digits in [1_i128, 7, 25, 123_456_789, 999_999] {
            for zeros in 0..19 {
                let Some(m) = digits.checked_mul(10_i128.pow(zeros)) else { continue };
                for m in [m, -m] {
                    let want = Decimal::from_i128_with_scale(m, 12).normalize();
                    let got = money_to_decimal(m).unwrap();
                    assert_eq!((got.mantissa(), got.scale()), (want.mantissa(), want.scale()), "{m}");
                }
            }
        }
        for (units, scale, text) in [
            (1250, 2, "12.50"),
            (-7, 0, "-7"),
            (-5, 2, "-0.05"),
            (0, 3, "0.000"),
            (i64::MIN, 4, "-922337203685477.5808"),
        ] {
            assert_eq!(format_points(units, scale), text);
            assert_eq!(
                format_points(units, scale),
                Decimal::from_i128_with_scale(i128::from(units), scale).to_string()
            );
        }
        assert_eq!(gcd(12, 18), 6);
    }
}
