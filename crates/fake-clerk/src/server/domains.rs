//! `POST /domains`, `PATCH` and `DELETE /domains/{id}`: Clerk's checks on names, proxies and
//! the primary, in the order Clerk applies them.

use super::request::{Result, parse_object, string_field, with_instance};
use crate::errors::ApiError;
use crate::names::{valid_domain_name, valid_proxy_url};
use crate::state::{SharedState, describe, make_domain};
use axum::{
    body::Bytes,
    extract::{Path, State as AxState},
    http::{HeaderMap, StatusCode},
    response::Response,
};
use clerk_model::UpdateDomain;
use clerk_model::{DeletedObject, InstanceKind};
use serde_json::Value;

pub(super) fn check_name(kind: InstanceKind, name: &str) -> Result<()> {
    valid_domain_name(name, kind == InstanceKind::Development)
        .map_err(|msg| ApiError::invalid("form_param_format_invalid", "name", msg))
}

pub(super) fn check_proxy(kind: InstanceKind, proxy: &str) -> Result<()> {
    if kind == InstanceKind::Development {
        return Err(ApiError::invalid(
            "form_param_value_invalid",
            "proxy_url",
            "proxy_url can only be set for production instances",
        ));
    }
    valid_proxy_url(proxy).map_err(|msg| ApiError::invalid("form_param_format_invalid", "proxy_url", msg))
}

pub(super) fn name_taken(inst: &crate::InstanceState, name: &str, except: Option<&str>) -> Result<()> {
    if inst
        .domains
        .iter()
        .any(|d| d.name == name && Some(d.id.as_str()) != except)
    {
        return Err(ApiError::invalid(
            "form_identifier_exists",
            "name",
            format!("A domain named {name} already exists for this instance."),
        ));
    }
    Ok(())
}

pub(super) async fn add_domain(
    AxState(state): AxState<SharedState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    with_instance(&state, &headers, "AddDomain", |inst| {
        let m = parse_object(&body)?;
        let name = match string_field(&m, "name")? {
            Some(Some(n)) => n,
            _ => {
                return Err(ApiError::invalid(
                    "form_param_missing",
                    "name",
                    "name is required",
                ));
            }
        };
        match m.get("is_satellite") {
            Some(Value::Bool(true)) => {}
            None => {
                return Err(ApiError::invalid(
                    "form_param_missing",
                    "is_satellite",
                    "is_satellite is required",
                ));
            }
            Some(_) => {
                return Err(ApiError::invalid(
                    "form_param_value_invalid",
                    "is_satellite",
                    "Only satellite domains can be added: is_satellite must be true",
                ));
            }
        }
        let proxy = string_field(&m, "proxy_url")?.flatten().filter(|p| !p.is_empty());
        check_name(inst.kind, &name)?;
        if let Some(p) = &proxy {
            check_proxy(inst.kind, p)?;
        }
        name_taken(inst, &name, None)?;
        let d = make_domain(inst, &name, true, proxy);
        inst.domains.push(d.clone());
        inst.journal.push((
            jiff::Timestamp::now(),
            format!("created {} {} proxy={:?}", d.id, d.name, d.proxy_url),
        ));
        Ok(d)
    })
}

pub(super) async fn update_domain(
    AxState(state): AxState<SharedState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    with_instance(&state, &headers, "UpdateDomain", |inst| {
        let m = parse_object(&body)?;
        if let Some(unknown) = m.keys().find(|k| !UpdateDomain::FIELDS.contains(&k.as_str())) {
            return Err(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "form_param_unknown",
                "is unknown",
                format!("{unknown} is not a valid parameter for this request."),
            ));
        }
        let name = string_field(&m, "name")?.flatten();
        let proxy = string_field(&m, "proxy_url")?;
        let secondary = match m.get("is_secondary") {
            None | Some(Value::Null) => None,
            Some(Value::Bool(b)) => Some(*b),
            Some(_) => {
                return Err(ApiError::invalid(
                    "form_param_type_invalid",
                    "is_secondary",
                    "is_secondary must be a boolean",
                ));
            }
        };
        let kind = inst.kind;
        let Some(idx) = inst.domains.iter().position(|d| d.id == id) else {
            return Err(ApiError::not_found());
        };
        if let Some(n) = &name {
            check_name(kind, n)?;
            name_taken(inst, n, Some(&id))?;
        }
        if let Some(Some(p)) = &proxy
            && !p.is_empty()
        {
            check_proxy(kind, p)?;
        }
        let update = UpdateDomain {
            name,
            proxy_url: proxy,
            is_secondary: secondary,
        };
        let mut d = inst.domains[idx].clone();
        d.apply(&update);
        if let Some(s) = update.is_secondary {
            inst.secondary.insert(d.id.clone(), s);
        }
        describe(inst, &mut d);
        inst.domains[idx] = d.clone();
        inst.journal.push((
            jiff::Timestamp::now(),
            format!("updated {} {} proxy={:?}", d.id, d.name, d.proxy_url),
        ));
        Ok(d)
    })
}

pub(super) async fn delete_domain(
    AxState(state): AxState<SharedState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    with_instance(&state, &headers, "DeleteDomain", |inst| {
        let Some(idx) = inst.domains.iter().position(|d| d.id == id) else {
            return Err(ApiError::not_found());
        };
        if !inst.domains[idx].is_satellite {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "operation_not_allowed",
                "operation not allowed",
                "The primary domain of an instance cannot be deleted.",
            ));
        }
        let d = inst.domains.remove(idx);
        inst.secondary.remove(&d.id);
        inst.journal
            .push((jiff::Timestamp::now(), format!("deleted {} {}", d.id, d.name)));
        Ok(DeletedObject {
            object: "domain".into(),
            id: Some(d.id),
            deleted: true,
        })
    })
}
