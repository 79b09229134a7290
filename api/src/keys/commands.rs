//! Creating API keys: one implementation for `POST /v1/api-keys` and `dtr keys create`.

use crate::audit::{self, Actor, NewEvent};
use crate::db::Db;
use crate::entities::api_key;
use crate::ids::KeyId;
use crate::keys::{self, Scope};
use openapi::AuditAction;
use openapi::{ApiKeyCreated, Role, ValidationIssue};
use sea_orm::DbErr;
use serde_json::json;

fn issue(pointer: &str, code: &str, message: &str) -> ValidationIssue {
    ValidationIssue {
        pointer: pointer.to_owned(),
        code: code.to_owned(),
        message: message.to_owned(),
    }
}

/// The binding a new key of `role` gets, or every reason the request is wrong.
pub fn scope(
    role: Role,
    organisation: Option<&str>,
    agency_type: Option<&str>,
    gss_code: Option<&str>,
) -> Result<Scope, Vec<ValidationIssue>> {
    let mut errors = vec![];
    let not_for = |field: &str, errors: &mut Vec<ValidationIssue>| {
        errors.push(issue(
            &format!("/{field}"),
            "field.unknown",
            &format!("A {} key has no {field}.", role.as_str()),
        ));
    };
    let scope = match role {
        Role::Referrer => {
            let organisation = match organisation.map(domain::Text::<1, 200, false>::parse) {
                None => {
                    errors.push(issue(
                        "/organisation",
                        "field.required",
                        "A referrer key needs its organisation's name.",
                    ));
                    None
                }
                Some(Err(r)) => {
                    errors.push(issue("/organisation", r.code.as_str(), &r.message));
                    None
                }
                Some(Ok(o)) => Some(o.as_str().to_owned()),
            };
            let agency_type = match agency_type.map(str::parse::<domain::AgencyType>) {
                None => {
                    errors.push(issue(
                        "/agency_type",
                        "field.required",
                        "A referrer key needs the agency type (s.213B specified public authority).",
                    ));
                    None
                }
                Some(Err(e)) => {
                    errors.push(issue(
                        "/agency_type",
                        "field.invalid_value",
                        &format!("The agency type is {e}."),
                    ));
                    None
                }
                Some(Ok(a)) => Some(a),
            };
            if gss_code.is_some() {
                not_for("gss_code", &mut errors);
            }
            organisation
                .zip(agency_type)
                .map(|(organisation, agency_type)| Scope::Referrer {
                    organisation,
                    agency_type,
                })
        }
        Role::Authority => {
            let code = match gss_code {
                None => {
                    errors.push(issue(
                        "/gss_code",
                        "field.required",
                        "An authority key needs the authority's GSS code.",
                    ));
                    None
                }
                Some(c) => match domain::register().get(c) {
                    Some(a) => Some(a.gss_code.clone()),
                    None => {
                        errors.push(issue("/gss_code", "housing_authority.unknown", "Not the current code of an English housing authority; see GET /v1/authorities."));
                        None
                    }
                },
            };
            if organisation.is_some() {
                not_for("organisation", &mut errors);
            }
            if agency_type.is_some() {
                not_for("agency_type", &mut errors);
            }
            code.map(|gss_code| Scope::Authority {
                gss_code: crate::ids::GssCode::stored(gss_code),
            })
        }
        Role::Admin => {
            for (field, value) in [
                ("organisation", organisation),
                ("agency_type", agency_type),
                ("gss_code", gss_code),
            ] {
                if value.is_some() {
                    not_for(field, &mut errors);
                }
            }
            Some(Scope::Admin)
        }
    };
    match scope {
        Some(s) if errors.is_empty() => Ok(s),
        _ => Err(errors),
    }
}

/// Creates a key with `scope`, records `api_key.created`, and returns it (the only time it is shown).
pub async fn create(db: &Db, scope: &Scope, actor: Actor, ms: i64) -> Result<ApiKeyCreated, DbErr> {
    let key = keys::generate_key();
    let txn = db.begin_write().await?;
    let row = keys::store_key(&*txn, &key, scope, false, ms).await?;
    audit::append(
        &*txn,
        ms,
        vec![NewEvent {
            actor,
            action: AuditAction::ApiKeyCreated,
            referral_id: None,
            detail: json!({
                "key_id": row.id,
                "role": row.role,
                "organisation": row.organisation,
                "agency_type": row.agency_type,
                "gss_code": row.gss_code,
            }),
        }],
    )
    .await?;
    txn.commit().await?;
    Ok(ApiKeyCreated {
        id: row.id,
        key,
        role: scope.role(),
        organisation: row.organisation,
        agency_type: row.agency_type,
        gss_code: row.gss_code,
    })
}

/// Why a key was not revoked.
#[derive(Debug, thiserror::Error)]
pub enum RevokeRefusal {
    /// No key has this id.
    #[error("no API key has this id")]
    NotFound,
    /// It is the last active admin key: revoking it would lock every operator out.
    #[error("this is the last active admin key; create another admin key first")]
    LastAdmin,
    /// The database failed.
    #[error(transparent)]
    Db(#[from] DbErr),
}

/// Revokes a key: `api_key.revoked`, and 401 from then on (in this process at once; elsewhere when
/// its key ring reloads, within seconds). Revoking a revoked key changes nothing.
pub async fn revoke(
    db: &Db,
    id: &KeyId,
    actor: Actor,
    ms: i64,
) -> Result<api_key::Model, RevokeRefusal> {
    let txn = db.begin_write().await?;
    let row = keys::find(&*txn, id.as_str())
        .await?
        .ok_or(RevokeRefusal::NotFound)?;
    if row.revoked_at_ms.is_some() {
        return Ok(row);
    }
    if row.role == Role::Admin.as_str() && keys::active_admins(&*txn).await? <= 1 {
        return Err(RevokeRefusal::LastAdmin);
    }
    keys::mark_revoked(&*txn, id.as_str(), ms).await?;
    audit::append(
        &*txn,
        ms,
        vec![NewEvent {
            actor,
            action: AuditAction::ApiKeyRevoked,
            referral_id: None,
            detail: json!({ "key_id": row.id, "role": row.role }),
        }],
    )
    .await?;
    txn.commit().await?;
    Ok(keys::find(db.conn(), id.as_str()).await?.unwrap_or(row))
}

/// Makes `key` (`DTR_BOOTSTRAP_ADMIN_KEY`) the only bootstrap admin key: creates it when absent
/// (idempotent across restarts) and revokes any other bootstrap key, so changing or unsetting the
/// variable retires the old value. `None`: the variable is unset.
pub async fn bootstrap_admin(db: &Db, key: Option<&str>, ms: i64) -> Result<(), DbErr> {
    let txn = db.begin_write().await?;
    let mut events = vec![];
    for old in keys::other_bootstrap_keys(&*txn, key).await? {
        keys::mark_revoked(&*txn, &old.id, ms).await?;
        tracing::warn!(key_id = %old.id, "revoked a bootstrap admin key that DTR_BOOTSTRAP_ADMIN_KEY no longer names");
        events.push(NewEvent {
            actor: Actor::system(),
            action: AuditAction::ApiKeyRevoked,
            referral_id: None,
            detail: json!({ "key_id": old.id, "role": "admin", "bootstrap": true }),
        });
    }
    if let Some(key) = key {
        match keys::find_by_value(&*txn, key).await? {
            None => {
                let row = keys::store_key(&*txn, key, &Scope::Admin, true, ms).await?;
                events.push(NewEvent {
                    actor: Actor::system(),
                    action: AuditAction::ApiKeyCreated,
                    referral_id: None,
                    detail: json!({ "key_id": row.id, "role": "admin", "bootstrap": true }),
                });
            }
            Some(row) if row.revoked_at_ms.is_some() => {
                tracing::error!(key_id = %row.id, "DTR_BOOTSTRAP_ADMIN_KEY names a revoked key: it stays revoked; choose a new value");
            }
            Some(_) => {}
        }
    }
    if !events.is_empty() {
        audit::append(&*txn, ms, events).await?;
    }
    txn.commit().await?;
    if keys::active_admins(db.conn()).await? == 0 {
        tracing::warn!("no active admin key: create one with `dtr keys create --role admin`");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_referrer_key_needs_an_organisation_and_a_specified_agency_type() {
        assert!(matches!(
            scope(Role::Referrer, Some("HMPPS North"), Some("probation"), None),
            Ok(Scope::Referrer { .. })
        ));
        let e = scope(Role::Referrer, None, Some("police"), None).expect_err("invalid");
        let codes: Vec<_> = e
            .iter()
            .map(|i| (i.pointer.as_str(), i.code.as_str()))
            .collect();
        assert_eq!(
            codes,
            vec![
                ("/organisation", "field.required"),
                ("/agency_type", "field.invalid_value")
            ]
        );
    }

    #[test]
    fn an_authority_key_needs_a_current_code() {
        assert!(scope(Role::Authority, None, None, Some("E08000039")).is_ok());
        assert!(scope(Role::Authority, None, None, Some("E10000016")).is_err());
        assert!(scope(Role::Authority, None, None, None).is_err());
    }

    #[test]
    fn an_admin_key_has_no_binding() {
        assert_eq!(scope(Role::Admin, None, None, None), Ok(Scope::Admin));
        assert!(scope(Role::Admin, Some("x"), None, None).is_err());
    }
}
