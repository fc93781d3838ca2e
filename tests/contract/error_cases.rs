//! The error paths both contract tests take, as one table of cases.

use super::*;

/// A request on an error path.
pub(crate) enum Call {
    List,
    Instance,
    Create(CreateDomain),
    Update(String, UpdateDomain),
    Delete(String),
}

/// One error path: the request, with the key it is made with, and Clerk's answer (the fake's).
pub(crate) struct ErrorCase {
    pub(crate) label: &'static str,
    pub(crate) key: &'static str,
    pub(crate) call: Call,
    pub(crate) status: u16,
    pub(crate) code: &'static str,
}

impl ErrorCase {
    pub(crate) fn method(&self) -> Method {
        match self.call {
            Call::List | Call::Instance => Method::GET,
            Call::Create(_) => Method::POST,
            Call::Update(..) => Method::PATCH,
            Call::Delete(_) => Method::DELETE,
        }
    }

    /// The method as the spec names its operations.
    pub(crate) fn verb(&self) -> &'static str {
        match self.call {
            Call::List | Call::Instance => "get",
            Call::Create(_) => "post",
            Call::Update(..) => "patch",
            Call::Delete(_) => "delete",
        }
    }

    pub(crate) fn path(&self) -> String {
        match &self.call {
            Call::List | Call::Create(_) => DOMAINS.into(),
            Call::Instance => INSTANCE.into(),
            Call::Update(id, _) | Call::Delete(id) => format!("/domains/{id}"),
        }
    }

    /// The spec's path template of the operation.
    pub(crate) fn template(&self) -> &'static str {
        match self.call {
            Call::List | Call::Create(_) => DOMAINS,
            Call::Instance => INSTANCE,
            Call::Update(..) | Call::Delete(_) => DOMAIN,
        }
    }

    pub(crate) fn body(&self) -> Option<Value> {
        match &self.call {
            Call::Create(b) => Some(to_json(b)),
            Call::Update(_, b) => Some(to_json(b)),
            _ => None,
        }
    }

    /// The same request through the typed client.
    pub(crate) async fn typed(&self, c: &ClerkClient) -> Result<(), ClerkError> {
        match &self.call {
            Call::List => c.list_domains().await.map(drop),
            Call::Instance => c.get_instance().await.map(drop),
            Call::Create(b) => c.create_domain(b).await.map(drop),
            Call::Update(id, b) => c.update_domain(id, b).await.map(drop),
            Call::Delete(id) => c.delete_domain(id).await.map(drop),
        }
    }
}

/// A satellite domain to create.
pub(crate) fn create(name: &str, proxy: Option<&str>) -> CreateDomain {
    CreateDomain {
        name: name.into(),
        is_satellite: true,
        proxy_url: proxy.map(str::to_string),
    }
}

fn case(label: &'static str, key: &'static str, call: Call, status: u16, code: &'static str) -> ErrorCase {
    ErrorCase {
        label,
        key,
        call,
        status,
        code,
    }
}

fn rename() -> UpdateDomain {
    UpdateDomain {
        name: Some("x.example.com".into()),
        ..Default::default()
    }
}

/// Every error path both contract tests take, with `primary` the production instance's primary.
pub(crate) fn error_cases(primary: &str) -> Vec<ErrorCase> {
    vec![
        case(
            "delete unknown id",
            LIVE,
            Call::Delete("dmn_unknown".into()),
            404,
            "resource_not_found",
        ),
        case(
            "delete primary",
            LIVE,
            Call::Delete(primary.into()),
            403,
            "operation_not_allowed",
        ),
        case(
            "update unknown id",
            LIVE,
            Call::Update("dmn_unknown".into(), rename()),
            404,
            "resource_not_found",
        ),
        case(
            "wrong key (list)",
            WRONG,
            Call::List,
            401,
            "authentication_invalid",
        ),
        case(
            "wrong key (instance)",
            WRONG,
            Call::Instance,
            401,
            "authentication_invalid",
        ),
        case(
            "invalid name",
            LIVE,
            Call::Create(create("Not A Domain", None)),
            422,
            "form_param_format_invalid",
        ),
        case(
            "proxy on development",
            DEV,
            Call::Create(create("p.example.com", Some("https://p.example.com/__clerk"))),
            422,
            "form_param_value_invalid",
        ),
        case(
            "duplicate name",
            LIVE,
            Call::Create(create(PRIMARY, None)),
            422,
            "form_identifier_exists",
        ),
    ]
}
