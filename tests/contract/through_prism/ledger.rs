//! The tally of the run through prism: every call, and every way one broke the contract.

use super::*;

/// The tally of the prism run: every call, and every way one broke the contract.
pub(crate) struct Ledger<'a> {
    pub(crate) spec: &'a Spec,
    /// Calls made (typed and raw).
    pub(crate) calls: usize,
    pub(crate) typed: usize,
    /// Contract violations: anything prism flagged, or an outcome other than the fake's.
    pub(crate) violations: Vec<String>,
    /// Responses whose status the spec does not document for the operation (prism warns).
    pub(crate) spec_gaps: Vec<String>,
}

impl Ledger<'_> {
    /// A typed call that must succeed.
    pub(crate) fn ok<T>(&mut self, label: &str, r: Result<T, ClerkError>) -> Option<T> {
        self.calls += 1;
        self.typed += 1;
        match r {
            Ok(v) => Some(v),
            Err(e) => {
                self.violations.push(format!("typed {label}: failed: {e}"));
                None
            }
        }
    }

    /// A typed call that must fail with the fake's Clerk error, not one of prism's.
    pub(crate) fn err<T: std::fmt::Debug>(
        &mut self,
        label: &str,
        r: Result<T, ClerkError>,
        status: u16,
        code: &str,
    ) {
        self.calls += 1;
        self.typed += 1;
        match r {
            Ok(v) => self
                .violations
                .push(format!("typed {label}: succeeded ({v:?}), want {status} {code}")),
            Err(ClerkError::Api { error, .. }) => {
                let from_fake = error.trace_id.as_deref().is_some_and(|t| t.starts_with("fake-"));
                if error.status != status || error.code() != Some(code) || !from_fake {
                    self.violations.push(format!(
                        "typed {label}: got {error} (trace {:?}), want the fake's {status} {code}",
                        error.trace_id
                    ));
                }
            }
            Err(e) => self
                .violations
                .push(format!("typed {label}: {e}, want {status} {code}")),
        }
    }

    /// The raw twin of a call: its status, its body against the spec and prism's verdict.
    pub(crate) fn raw(
        &mut self,
        label: &str,
        method: &str,
        spec_path: &str,
        r: &WireResp,
        status: u16,
        code: Option<&str>,
    ) {
        self.calls += 1;
        let body = body_against_spec(self.spec, method, spec_path, r, status, code);
        for v in &r.violations {
            let gap = !body.documented
                && r.status == status
                && v["severity"] == "Warning"
                && v["message"]
                    .as_str()
                    .is_some_and(|m| m.starts_with("Unable to match the returned status code"));
            if gap {
                self.spec_gaps.push(format!(
                    "{} {spec_path} -> {status}: {}",
                    method.to_uppercase(),
                    v["message"]
                ));
            } else {
                self.violations.push(format!("raw {label}: prism: {v}"));
            }
        }
        if r.status != status || r.content_type.contains("problem+json") {
            self.violations.push(format!(
                "raw {label}: {} {} (want {status}): {}",
                r.status, r.content_type, r.body
            ));
            return;
        }
        self.violations
            .extend(body.problems.iter().map(|p| format!("raw {label}: {p}")));
    }
}

pub(crate) fn id_of(d: &Option<Domain>) -> String {
    d.as_ref()
        .map(|d| d.id.clone())
        .unwrap_or_else(|| "dmn_missing".into())
}
