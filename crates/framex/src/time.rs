//! Exact time: rationals and decimal parsing.
//!
//! Every time framex reasons about (sample times, media offsets, frame rates, stream
//! timestamps) is an exact [`Rational`]. Floats appear only at the edges: JSON output and
//! progress display. Decimal inputs are read exactly to the microsecond (digits beyond six
//! decimals are truncated, as ffmpeg parses durations), so `0.1 + 0.2` style noise in a
//! manifest never moves a sample onto the wrong frame.

use std::cmp::Ordering;
use std::fmt;

/// An exact rational number with a positive denominator, always in lowest terms.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Rational {
    num: i128,
    den: i128,
}

fn gcd(mut a: i128, mut b: i128) -> i128 {
    a = a.abs();
    b = b.abs();
    while b != 0 {
        let t = a % b;
        a = b;
        b = t;
    }
    a
}

impl Rational {
    pub const ZERO: Rational = Rational { num: 0, den: 1 };
    pub const ONE: Rational = Rational { num: 1, den: 1 };

    /// `num / den`. Panics if `den == 0` (a programming error: every caller validates input).
    pub fn new(num: i128, den: i128) -> Rational {
        assert!(den != 0, "rational with zero denominator");
        let s = if den < 0 { -1 } else { 1 };
        let g = gcd(num, den).max(1);
        Rational {
            num: s * num / g,
            den: s * den / g,
        }
    }

    pub fn from_int(v: i64) -> Rational {
        Rational { num: v as i128, den: 1 }
    }

    pub fn num(self) -> i128 {
        self.num
    }

    pub fn den(self) -> i128 {
        self.den
    }

    pub fn is_zero(self) -> bool {
        self.num == 0
    }

    pub fn is_positive(self) -> bool {
        self.num > 0
    }

    pub fn is_negative(self) -> bool {
        self.num < 0
    }

    pub fn recip(self) -> Rational {
        Rational::new(self.den, self.num)
    }

    /// Largest integer `<= self`.
    pub fn floor(self) -> i128 {
        self.num.div_euclid(self.den)
    }

    /// Smallest integer `>= self`.
    pub fn ceil(self) -> i128 {
        -((-self.num).div_euclid(self.den))
    }

    /// `self mod m` in `[0, m)` for positive `m`.
    pub fn rem_euclid(self, m: Rational) -> Rational {
        let q = (self / m).floor();
        self - m * Rational::from(q)
    }

    pub fn min(self, other: Rational) -> Rational {
        if self <= other {
            self
        } else {
            other
        }
    }

    pub fn max(self, other: Rational) -> Rational {
        if self >= other {
            self
        } else {
            other
        }
    }

    pub fn to_f64(self) -> f64 {
        self.num as f64 / self.den as f64
    }

    /// Parses an exact decimal (`"2.5"`, `"-0.016"`, `"1e-6"`), truncated to microseconds.
    pub fn parse_decimal(s: &str) -> Option<Rational> {
        Rational::parse_decimal_digits(s, 6)
    }

    /// Parses a decimal at full precision (up to 18 decimal places), e.g. a float-spelled
    /// composition time `"0.23333333333333334"` for a frame lookup.
    pub fn parse_decimal_precise(s: &str) -> Option<Rational> {
        Rational::parse_decimal_digits(s, 18)
    }

    /// Parses a time in seconds as a caller spells it: an exact `"num/den"`, else a decimal at
    /// full precision (`--time`, the Node package's lookup and slice times).
    pub fn parse_seconds(s: &str) -> Option<Rational> {
        if s.contains('/') {
            Rational::parse_exact(s)
        } else {
            Rational::parse_decimal_precise(s)
        }
    }

    fn parse_decimal_digits(s: &str, places: u32) -> Option<Rational> {
        let s = s.trim();
        if s.is_empty() {
            return None;
        }
        let (mantissa, exp) = match s.find(['e', 'E']) {
            Some(i) => (&s[..i], s[i + 1..].parse::<i32>().ok()?),
            None => (s, 0),
        };
        let (neg, digits) = match mantissa.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, mantissa.strip_prefix('+').unwrap_or(mantissa)),
        };
        let (int_part, frac_part) = match digits.split_once('.') {
            Some((a, b)) => (a, b),
            None => (digits, ""),
        };
        if int_part.is_empty() && frac_part.is_empty() {
            return None;
        }
        if !int_part.bytes().all(|b| b.is_ascii_digit()) || !frac_part.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        // value = 0.<int_part><frac_part> shifted: all digits as an integer times 10^(exp - frac_len)
        let all: String = format!("{int_part}{frac_part}");
        let all = all.trim_start_matches('0');
        if all.len() > 30 {
            return None;
        }
        let mut n: i128 = if all.is_empty() { 0 } else { all.parse().ok()? };
        let mut shift = exp - frac_part.len() as i32; // value = n * 10^shift
                                                      // Truncate to `places` decimals: value · 10^places = n · 10^(shift + places)
        shift += places as i32;
        if shift >= 0 {
            if shift > 20 {
                return None;
            }
            n = n.checked_mul(10i128.pow(shift as u32))?;
        } else if -shift > 36 {
            n = 0;
        } else {
            n /= 10i128.pow((-shift) as u32);
        }
        Some(Rational::new(if neg { -n } else { n }, 10i128.pow(places)))
    }

    /// Reads a finite JSON/JS number exactly as its shortest decimal spelling, to the microsecond.
    pub fn from_f64_decimal(v: f64) -> Option<Rational> {
        if !v.is_finite() {
            return None;
        }
        Rational::parse_decimal(&format!("{v}"))
    }

    /// Parses a frame rate: `"30"`, `"29.97"`, or an exact `"30000/1001"`. Must be positive and
    /// at most [`Rational::MAX_RATE`], with a denominator (in lowest terms) of at most 10⁶, so
    /// that every sample-time computation stays far inside `i128`.
    pub fn parse_rate(s: &str) -> Option<Rational> {
        let s = s.trim();
        let r = match s.split_once('/') {
            Some((a, b)) => {
                let a: i128 = a.trim().parse().ok()?;
                let b: i128 = b.trim().parse().ok()?;
                // Bounded before any arithmetic (i128::MIN cannot even be negated).
                const MAX_TERM: u128 = 1_000_000_000_000;
                if b == 0 || a.unsigned_abs() > MAX_TERM || b.unsigned_abs() > MAX_TERM {
                    return None;
                }
                Rational::new(a, b)
            }
            None => Rational::parse_decimal(s)?,
        };
        r.checked_rate()
    }

    /// `self` if it is usable as a frame rate (see [`Rational::parse_rate`]).
    pub fn checked_rate(self) -> Option<Rational> {
        (self.is_positive() && self.den <= 1_000_000 && self <= Rational::MAX_RATE).then_some(self)
    }

    /// The highest frame rate accepted: 1000 frames per second.
    pub const MAX_RATE: Rational = Rational { num: 1000, den: 1 };
}

impl From<i128> for Rational {
    fn from(v: i128) -> Rational {
        Rational { num: v, den: 1 }
    }
}

impl From<i64> for Rational {
    fn from(v: i64) -> Rational {
        Rational { num: v as i128, den: 1 }
    }
}

impl std::ops::Add for Rational {
    type Output = Rational;
    fn add(self, o: Rational) -> Rational {
        Rational::new(self.num * o.den + o.num * self.den, self.den * o.den)
    }
}

impl std::ops::Sub for Rational {
    type Output = Rational;
    fn sub(self, o: Rational) -> Rational {
        Rational::new(self.num * o.den - o.num * self.den, self.den * o.den)
    }
}

impl std::ops::Mul for Rational {
    type Output = Rational;
    fn mul(self, o: Rational) -> Rational {
        let g1 = gcd(self.num, o.den).max(1);
        let g2 = gcd(o.num, self.den).max(1);
        Rational::new((self.num / g1) * (o.num / g2), (self.den / g2) * (o.den / g1))
    }
}

impl std::ops::Div for Rational {
    type Output = Rational;
    fn div(self, o: Rational) -> Rational {
        Rational::new(self.num * o.den, self.den * o.num)
    }
}

impl std::ops::Neg for Rational {
    type Output = Rational;
    fn neg(self) -> Rational {
        Rational {
            num: -self.num,
            den: self.den,
        }
    }
}

impl PartialOrd for Rational {
    fn partial_cmp(&self, other: &Rational) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Rational {
    fn cmp(&self, other: &Rational) -> Ordering {
        match (self.num.checked_mul(other.den), other.num.checked_mul(self.den)) {
            (Some(a), Some(b)) => a.cmp(&b),
            _ => cmp_fractions(self.num, self.den, other.num, other.den),
        }
    }
}

/// Exact `a/b` vs `c/d` (`b, d > 0`) without overflow, for operands too large to
/// cross-multiply: compare integer parts, then the remainders' reciprocals (continued fractions).
fn cmp_fractions(a: i128, b: i128, c: i128, d: i128) -> Ordering {
    let (qa, ra) = (a.div_euclid(b), a.rem_euclid(b));
    let (qc, rc) = (c.div_euclid(d), c.rem_euclid(d));
    match qa.cmp(&qc) {
        Ordering::Equal => {}
        o => return o,
    }
    match (ra == 0, rc == 0) {
        (true, true) => Ordering::Equal,
        (true, false) => Ordering::Less,
        (false, true) => Ordering::Greater,
        // ra/b < rc/d  ⇔  d/rc < b/ra
        (false, false) => cmp_fractions(d, rc, b, ra),
    }
}

impl fmt::Display for Rational {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.den == 1 {
            write!(f, "{}", self.num)
        } else {
            write!(f, "{}/{}", self.num, self.den)
        }
    }
}

/// Exact text: `"num/den"`, or `"num"` for an integer (what [`fmt::Display`] writes), so a
/// time that crosses a JSON boundary comes back as the same number.
impl serde::Serialize for Rational {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Rational {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Rational, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        Rational::parse_exact(&text)
            .ok_or_else(|| serde::de::Error::custom(format!("expected \"num/den\" or an integer, got {text:?}")))
    }
}

impl Rational {
    /// Reads `"num/den"` or `"num"` (integers, `den` non-zero) exactly, as
    /// [`fmt::Display`] writes them.
    pub fn parse_exact(s: &str) -> Option<Rational> {
        let (num, den) = match s.trim().split_once('/') {
            Some((n, d)) => (n.trim().parse::<i128>().ok()?, d.trim().parse::<i128>().ok()?),
            None => (s.trim().parse::<i128>().ok()?, 1),
        };
        // i128::MIN has no positive counterpart: normalising its sign would overflow.
        (den != 0 && num != i128::MIN && den != i128::MIN).then(|| Rational::new(num, den))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimal_parsing_is_exact_to_the_microsecond() {
        assert_eq!(Rational::parse_decimal("2.5"), Some(Rational::new(5, 2)));
        assert_eq!(Rational::parse_decimal("0.0000019"), Some(Rational::new(1, 1_000_000)));
        assert_eq!(Rational::parse_decimal("1e-6"), Some(Rational::new(1, 1_000_000)));
        assert_eq!(Rational::parse_decimal("-0.016"), Some(Rational::new(-16, 1000)));
        assert_eq!(Rational::parse_decimal("3"), Some(Rational::from_int(3)));
        assert_eq!(Rational::parse_decimal(".5"), Some(Rational::new(1, 2)));
        assert_eq!(Rational::parse_decimal("abc"), None);
        assert_eq!(
            Rational::parse_decimal_precise("0.23333333333333334"),
            Some(Rational::new(23333333333333334, 100_000_000_000_000_000))
        );
        assert_eq!(Rational::parse_decimal(""), None);
        // float noise: 0.1 + 0.2 prints as 0.30000000000000004 -> 0.3 at microsecond precision
        assert_eq!(Rational::from_f64_decimal(0.1 + 0.2), Some(Rational::new(3, 10)));
    }

    #[test]
    fn rates() {
        assert_eq!(Rational::parse_rate("30000/1001"), Some(Rational::new(30000, 1001)));
        assert_eq!(Rational::parse_rate("29.97"), Some(Rational::new(2997, 100)));
        assert_eq!(Rational::parse_rate("0"), None);
        assert_eq!(Rational::parse_rate("1/0"), None);
        assert_eq!(Rational::parse_rate("-30"), None);
        // Bounded: absurd rates would overflow sample-time arithmetic (found by fuzzing).
        assert_eq!(Rational::parse_rate("1000"), Some(Rational::from_int(1000)));
        assert_eq!(Rational::parse_rate("1001"), None);
        assert_eq!(Rational::parse_rate("999999999999999999999999999999"), None);
        assert_eq!(
            Rational::parse_rate("30000/170141183460469231731687303715884105727"),
            None
        );
        assert_eq!(Rational::parse_rate("24000/1001"), Some(Rational::new(24000, 1001)));
        assert_eq!(Rational::parse_rate("1/170141183460469231731687303715884105727"), None);
        assert_eq!(
            Rational::parse_rate("30000/-170141183460469231731687303715884105728"),
            None
        );
        assert_eq!(
            Rational::parse_rate("23.976023"),
            Some(Rational::new(23_976_023, 1_000_000))
        );
    }

    #[test]
    fn comparison_never_overflows() {
        let big = Rational::new(i128::MAX - 1, 3);
        let other = Rational::new(i128::MAX / 7, i128::MAX / 5);
        assert_eq!(big.cmp(&other), Ordering::Greater);
        assert_eq!(other.cmp(&big), Ordering::Less);
        let x = Rational::new(i128::MAX / 2, i128::MAX / 3 + 1);
        assert_eq!(x.cmp(&x), Ordering::Equal);
        assert!(Rational::new(-(i128::MAX / 2), 3) < Rational::new(1, i128::MAX));
        // Agrees with cross-multiplication where that fits.
        for (a, b, c, d) in [(1, 3, 2, 6), (7, 2, 10, 3), (-5, 4, -6, 5), (0, 1, -1, 9)] {
            assert_eq!(cmp_fractions(a, b, c, d), (a * d).cmp(&(c * b)), "{a}/{b} vs {c}/{d}");
        }
    }

    #[test]
    fn floor_ceil_rem() {
        let r = Rational::new(-7, 2);
        assert_eq!(r.floor(), -4);
        assert_eq!(r.ceil(), -3);
        assert_eq!(
            Rational::new(7, 2).rem_euclid(Rational::from_int(2)),
            Rational::new(3, 2)
        );
        assert_eq!(
            Rational::new(-1, 2).rem_euclid(Rational::from_int(2)),
            Rational::new(3, 2)
        );
    }
}
