//! `GET /users/{user}?$select=id,displayName,mail,userPrincipalName`: proves the user
//! exists and the app may address it.

use serde::{Deserialize, Serialize};

use super::{Method, Operation, Request, user_path};

/// Reads the user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GetUser {
    /// UPN or object id.
    pub user: String,
}

/// The properties of a user the connection test shows.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct User {
    /// Object id.
    #[serde(default)]
    pub id: String,
    /// Display name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    /// Primary SMTP address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mail: Option<String>,
    /// UPN.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_principal_name: Option<String>,
}

impl Operation for GetUser {
    type Response = User;

    fn request(&self) -> Request {
        Request::new(Method::Get, user_path(&self.user))
            .with_query("$select", "id,displayName,mail,userPrincipalName")
    }
}
