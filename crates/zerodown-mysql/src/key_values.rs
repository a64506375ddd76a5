//! A backfill's key values as the text its checkpoint keeps, and back, without loss:
//! read from the table in their own types and bound again in them. Read as text, a key
//! of bytes that are not UTF-8 was mangled (rows skipped, apply still said done), and
//! MySQL compares a BIGINT column with a string as doubles (inexact past 2^53).

use mysql_async::Value;

/// Marks a typed checkpoint; a key without it was written by an earlier version as text.
const TAG: &str = "zdv1:";

/// The checkpoint text of a key value.
pub fn encode(v: &Value) -> String {
    let body = match v {
        Value::NULL => "n".to_owned(),
        Value::Bytes(b) => format!("b{}", hex(b)),
        Value::Int(i) => format!("i{i}"),
        Value::UInt(u) => format!("u{u}"),
        Value::Float(f) => format!("f{}", f.to_bits()),
        Value::Double(d) => format!("d{}", d.to_bits()),
        Value::Date(y, mo, d, h, mi, s, us) => format!("D{y},{mo},{d},{h},{mi},{s},{us}"),
        Value::Time(neg, d, h, mi, s, us) => format!("T{},{d},{h},{mi},{s},{us}", u8::from(*neg)),
    };
    format!("{TAG}{body}")
}

/// The key value of a checkpoint text (an untagged one is text, as earlier versions
/// kept keys); None when a tagged text is damaged.
pub fn decode(text: &str) -> Option<Value> {
    let Some(body) = text.strip_prefix(TAG) else {
        return Some(Value::from(text));
    };
    let (kind, rest) = body.split_at_checked(1)?;
    let nums = |n: usize| -> Option<Vec<u64>> {
        let v: Vec<u64> = rest
            .split(',')
            .map(|p| p.parse().ok())
            .collect::<Option<_>>()?;
        (v.len() == n).then_some(v)
    };
    Some(match kind {
        "n" => Value::NULL,
        "b" => Value::Bytes(unhex(rest)?),
        "i" => Value::Int(rest.parse().ok()?),
        "u" => Value::UInt(rest.parse().ok()?),
        "f" => Value::Float(f32::from_bits(rest.parse().ok()?)),
        "d" => Value::Double(f64::from_bits(rest.parse().ok()?)),
        "D" => {
            let v = nums(7)?;
            Value::Date(
                u16::try_from(v[0]).ok()?,
                u8::try_from(v[1]).ok()?,
                u8::try_from(v[2]).ok()?,
                u8::try_from(v[3]).ok()?,
                u8::try_from(v[4]).ok()?,
                u8::try_from(v[5]).ok()?,
                u32::try_from(v[6]).ok()?,
            )
        }
        "T" => {
            let v = nums(6)?;
            Value::Time(
                v[0] == 1,
                u32::try_from(v[1]).ok()?,
                u8::try_from(v[2]).ok()?,
                u8::try_from(v[3]).ok()?,
                u8::try_from(v[4]).ok()?,
                u32::try_from(v[5]).ok()?,
            )
        }
        _ => return None,
    })
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    if s.len() % 2 != 0 {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_of_value_comes_back_as_it_was() {
        for v in [
            Value::NULL,
            Value::Bytes(vec![0xff, 0x00, b'\'', 0xc3]),
            Value::Bytes(Vec::new()),
            Value::Int(-(1 << 62)),
            Value::UInt(u64::MAX),
            // Past 2^53: a double would round it.
            Value::Int((1 << 53) + 1),
            Value::Float(-0.1),
            Value::Double(f64::MIN_POSITIVE),
            Value::Date(2026, 12, 7, 23, 59, 58, 999_999),
            Value::Time(true, 34, 22, 59, 58, 1),
        ] {
            assert_eq!(decode(&encode(&v)), Some(v.clone()), "{v:?}");
        }
        assert_eq!(
            decode("plain"),
            Some(Value::from("plain")),
            "earlier checkpoints"
        );
        assert_eq!(decode("zdv1:bzz"), None);
        assert_eq!(decode("zdv1:"), None);
        assert_eq!(decode("zdv1:D1,2"), None);
    }
}
