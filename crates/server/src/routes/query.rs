//! Query strings of the list endpoints. Names are case-sensitive (`triggerId` is
//! camelCase, the rest snake_case); booleans are the strings `true`/`false`. Unknown
//! parameters are ignored, as real clients send extras (see docs/compatibility.md).

use hookhaven_core::{Error, Page};

pub struct Params(Vec<(String, String)>);

impl Params {
    pub fn new(pairs: Vec<(String, String)>) -> Params {
        Params(pairs)
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn bool(&self, name: &str) -> Result<Option<bool>, Error> {
        match self.get(name) {
            None => Ok(None),
            Some("true") => Ok(Some(true)),
            Some("false") => Ok(Some(false)),
            Some(_) => Err(on_property(
                "Expected type boolean but found type string",
                name,
            )),
        }
    }

    fn uint(&self, name: &str, max: u32) -> Result<Option<u32>, Error> {
        match self.get(name) {
            None => Ok(None),
            Some(raw) => match raw.parse::<u32>() {
                Ok(v) if v <= max => Ok(Some(v)),
                Ok(v) => Err(on_property(
                    &format!("Value {v} is greater than maximum {max}"),
                    name,
                )),
                Err(_) => Err(on_property(
                    "Expected type integer but found type string",
                    name,
                )),
            },
        }
    }

    /// `page` and `per_page`. Without either, paging is off and every match is returned.
    /// With only `page`, the page size is 50, Auth0's default.
    pub fn page(&self) -> Result<Option<Page>, Error> {
        let page = self.uint("page", u32::MAX)?;
        let per_page = self.uint("per_page", 100)?;
        Ok(match (page, per_page) {
            (None, None) => None,
            (page, per_page) => Some(Page {
                page: page.unwrap_or(0),
                per_page: per_page.unwrap_or(50),
            }),
        })
    }
}

/// Auth0's query validation message for one parameter.
pub fn on_property(detail: &str, name: &str) -> Error {
    Error::InvalidQuery(format!(
        "Query validation error: '{detail}' on property {name}."
    ))
}

/// The envelope of a paged list with `include_totals=true`.
pub fn totals_envelope(
    key: &str,
    items: Vec<serde_json::Value>,
    total: u64,
    page: Option<Page>,
) -> serde_json::Value {
    let (start, limit) = match page {
        Some(p) => (p.offset(), u64::from(p.per_page)),
        // Paging off: everything from 0, and `limit` is what was returned, which keeps
        // go-auth0's `HasNext()` (total > start + limit) false.
        None => (0, items.len() as u64),
    };
    let mut body = serde_json::Map::new();
    body.insert("total".into(), total.into());
    body.insert("start".into(), start.into());
    body.insert("limit".into(), limit.into());
    body.insert(key.into(), serde_json::Value::Array(items));
    serde_json::Value::Object(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(q: &[(&str, &str)]) -> Params {
        Params::new(
            q.iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        )
    }

    #[test]
    fn paging_defaults() {
        assert_eq!(params(&[]).page().unwrap(), None);
        assert_eq!(
            params(&[("page", "2")]).page().unwrap(),
            Some(Page {
                page: 2,
                per_page: 50
            })
        );
        let err = params(&[("per_page", "101")]).page().unwrap_err();
        assert_eq!(err.error_code(), Some("invalid_query_string"));
        assert_eq!(
            err.message(),
            "Query validation error: 'Value 101 is greater than maximum 100' on property per_page."
        );
        assert!(params(&[("page", "-1")]).page().is_err());
    }

    #[test]
    fn booleans() {
        assert_eq!(
            params(&[("enabled", "true")]).bool("enabled").unwrap(),
            Some(true)
        );
        let err = params(&[("enabled", "yes")]).bool("enabled").unwrap_err();
        assert_eq!(
            err.message(),
            "Query validation error: 'Expected type boolean but found type string' on property enabled."
        );
    }
}
