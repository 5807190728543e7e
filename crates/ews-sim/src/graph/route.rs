//! What a Graph URL names: `/users/{user}/...` below the version root.

use percent_encoding::percent_decode_str;

use super::reply::Reply;

/// The resource a request addresses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// `/users/{u}`.
    User,
    /// `/users/{u}/contactFolders`: the folders under the default Contacts folder.
    TopFolders,
    /// `/users/{u}/contactFolders/{f}`.
    Folder(String),
    /// `/users/{u}/contactFolders/{f}/childFolders`.
    ChildFolders(String),
    /// `/users/{u}/contacts` or `/users/{u}/contactFolders/{f}/contacts`.
    Contacts(Option<String>),
    /// `.../contacts/delta`.
    Delta(Option<String>),
    /// `/users/{u}/translateExchangeIds`.
    TranslateIds,
    /// `.../contacts/{id}`.
    Contact {
        /// The folder the URL names, if any.
        folder: Option<String>,
        /// The contact id.
        id: String,
    },
}

/// A parsed Graph path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    /// UPN or object id.
    pub user: String,
    /// What below the user.
    pub target: Target,
}

impl Route {
    /// The operation name used by faults and the request log.
    pub fn operation(&self, method: &str) -> &'static str {
        match (&self.target, method) {
            (Target::User, _) => "user",
            (Target::TranslateIds, _) => "translate",
            (Target::TopFolders | Target::Folder(_) | Target::ChildFolders(_), _) => "folders",
            (Target::Delta(_), _) => "delta",
            (Target::Contacts(_), "POST") => "create",
            (Target::Contacts(_), _) => "list",
            (Target::Contact { .. }, "PATCH") => "update",
            (Target::Contact { .. }, "DELETE") => "delete",
            (Target::Contact { .. }, _) => "get",
        }
    }
}

/// Splits `name('key')` (OData key syntax) into the name and the key.
fn keyed(seg: &str) -> (String, Option<String>) {
    if let Some((name, rest)) = seg.split_once('(')
        && let Some(key) = rest.strip_suffix(')')
    {
        return (name.to_owned(), Some(key.trim_matches('\'').to_owned()));
    }
    (seg.to_owned(), None)
}

fn not_found(path: &str) -> Reply {
    Reply::error(
        400,
        "BadRequest",
        &format!("Resource not found for the segment in '{path}'."),
    )
}

/// Parses a path below `/v1.0` (no query).
pub fn parse(path: &str) -> Result<Route, Reply> {
    let mut segs: Vec<String> = Vec::new();
    for raw in path.split('/').filter(|s| !s.is_empty()) {
        let decoded = percent_decode_str(raw).decode_utf8_lossy().into_owned();
        let (name, key) = keyed(&decoded);
        segs.push(name);
        if let Some(k) = key {
            segs.push(k);
        }
    }
    let s: Vec<&str> = segs.iter().map(String::as_str).collect();
    let eq = |a: &str, b: &str| a.eq_ignore_ascii_case(b);
    let (user, rest) = match s.as_slice() {
        [users, user, rest @ ..] if eq(users, "users") => ((*user).to_owned(), rest),
        _ => return Err(not_found(path)),
    };
    let target = match rest {
        [] => Target::User,
        [t] if eq(t, "translateExchangeIds") => Target::TranslateIds,
        [cf] if eq(cf, "contactFolders") => Target::TopFolders,
        [cf, f] if eq(cf, "contactFolders") => Target::Folder((*f).to_owned()),
        [cf, f, ch] if eq(cf, "contactFolders") && eq(ch, "childFolders") => {
            Target::ChildFolders((*f).to_owned())
        }
        [c] if eq(c, "contacts") => Target::Contacts(None),
        [c, d] if eq(c, "contacts") && eq(d, "delta") => Target::Delta(None),
        [c, id] if eq(c, "contacts") => Target::Contact {
            folder: None,
            id: (*id).to_owned(),
        },
        [cf, f, c] if eq(cf, "contactFolders") && eq(c, "contacts") => {
            Target::Contacts(Some((*f).to_owned()))
        }
        [cf, f, c, d] if eq(cf, "contactFolders") && eq(c, "contacts") && eq(d, "delta") => {
            Target::Delta(Some((*f).to_owned()))
        }
        [cf, f, c, id] if eq(cf, "contactFolders") && eq(c, "contacts") => Target::Contact {
            folder: Some((*f).to_owned()),
            id: (*id).to_owned(),
        },
        _ => return Err(not_found(path)),
    };
    Ok(Route { user, target })
}

/// Query parameters, decoded.
#[derive(Debug, Clone, Default)]
pub struct Query(pub Vec<(String, String)>);

impl Query {
    /// Parses a query string.
    pub fn parse(q: &str) -> Self {
        Self(
            url::form_urlencoded::parse(q.as_bytes())
                .into_owned()
                .collect(),
        )
    }

    /// A parameter, case-insensitively.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v.as_str())
    }

    /// `$select` as a list.
    pub fn select(&self) -> Option<Vec<String>> {
        self.get("$select").map(|s| {
            s.split(',')
                .map(|p| p.trim().to_owned())
                .filter(|p| !p.is_empty())
                .collect()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_name_their_resources() {
        let r = parse("/users/ann%40contoso.com/contactFolders/F1/contacts/delta").unwrap();
        assert_eq!(r.user, "ann@contoso.com");
        assert_eq!(r.target, Target::Delta(Some("F1".into())));
        assert_eq!(
            parse("/users/a@b/contactFolders('contacts')")
                .unwrap()
                .target,
            Target::Folder("contacts".into())
        );
        assert_eq!(
            parse("/users/a@b/contacts/X%3D").unwrap().target,
            Target::Contact {
                folder: None,
                id: "X=".into()
            }
        );
        assert!(parse("/me/contacts").is_err());
        assert!(parse("/users/a@b/events").is_err());
    }
}
