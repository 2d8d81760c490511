//! The claims of a Management API access token, in Auth0's shape.

use serde::{Deserialize, Serialize};

/// Claims of a client-credentials access token. Other claims in a token are ignored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessClaims {
    pub iss: String,
    pub sub: String,
    /// Auth0 sends either a string or an array; a single audience is written as a string.
    #[serde(with = "audience")]
    pub aud: Vec<String>,
    pub iat: i64,
    pub exp: i64,
    /// Space-separated scopes; absent means none.
    #[serde(default)]
    pub scope: String,
    pub azp: String,
    pub gty: String,
}

mod audience {
    use serde::de::{Deserializer, SeqAccess, Visitor};
    use serde::ser::Serializer;
    use std::fmt;

    pub(super) fn serialize<S: Serializer>(aud: &[String], s: S) -> Result<S::Ok, S::Error> {
        match aud {
            [one] => s.serialize_str(one),
            many => s.collect_seq(many),
        }
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
        d.deserialize_any(OneOrMany)
    }

    struct OneOrMany;

    impl<'de> Visitor<'de> for OneOrMany {
        type Value = Vec<String>;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a string or an array of strings")
        }

        fn visit_str<E>(self, v: &str) -> Result<Vec<String>, E> {
            Ok(vec![v.to_string()])
        }

        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<String>, A::Error> {
            let mut out = Vec::new();
            while let Some(item) = seq.next_element::<String>()? {
                out.push(item);
            }
            Ok(out)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn claims(aud: &[&str]) -> AccessClaims {
        AccessClaims {
            iss: "https://hookhaven.local/".into(),
            sub: "abc@clients".into(),
            aud: aud.iter().map(|a| a.to_string()).collect(),
            iat: 1,
            exp: 2,
            scope: "read:hooks".into(),
            azp: "abc".into(),
            gty: "client-credentials".into(),
        }
    }

    #[test]
    fn one_audience_is_a_string_several_an_array() {
        let one = serde_json::to_value(claims(&["api"])).unwrap();
        assert_eq!(one["aud"], json!("api"));
        let two = serde_json::to_value(claims(&["api", "other"])).unwrap();
        assert_eq!(two["aud"], json!(["api", "other"]));
        for value in [one, two] {
            let back: AccessClaims = serde_json::from_value(value.clone()).unwrap();
            assert_eq!(serde_json::to_value(back).unwrap(), value);
        }
    }

    #[test]
    fn field_order_matches_auth0() {
        let text = serde_json::to_string(&claims(&["api"])).unwrap();
        assert!(text.starts_with(r#"{"iss":"https://hookhaven.local/","sub":"abc@clients","aud":"api","iat":1,"exp":2,"scope""#), "{text}");
    }

    #[test]
    fn audience_must_be_strings() {
        let mut value = serde_json::to_value(claims(&["api"])).unwrap();
        for bad in [json!(1), json!([1]), json!({"a": "b"}), json!(null)] {
            value["aud"] = bad;
            assert!(serde_json::from_value::<AccessClaims>(value.clone()).is_err());
        }
    }

    #[test]
    fn scope_may_be_absent_but_other_claims_may_not() {
        let mut value = serde_json::to_value(claims(&["api"])).unwrap();
        value.as_object_mut().unwrap().remove("scope");
        assert_eq!(
            serde_json::from_value::<AccessClaims>(value.clone())
                .unwrap()
                .scope,
            ""
        );
        for name in ["iss", "sub", "aud", "iat", "exp", "azp", "gty"] {
            let mut v = value.clone();
            v.as_object_mut().unwrap().remove(name);
            assert!(serde_json::from_value::<AccessClaims>(v).is_err(), "{name}");
        }
    }
}
