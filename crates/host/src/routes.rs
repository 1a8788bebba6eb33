//! HTTP route matching with Spin's rules.
//!
//! Spin (crates/routes, on top of `routefinder`) normalises each route by
//! dropping one trailing slash, lets an exact route beat any wildcard, and picks
//! the longest prefix among `/prefix/...` wildcards. A later duplicate of the
//! same route replaces the earlier one. Named `:param` segments are not
//! supported here: Hookah does not use them, and rejecting them at startup beats
//! silently routing them as literals.

use anyhow::bail;

use crate::manifest::{HttpTrigger, RouteDecl};

#[derive(Debug, Clone)]
pub(crate) struct Router {
    routes: Vec<Route>,
}

#[derive(Debug, Clone)]
struct Route {
    component: String,
    /// As written in the manifest, e.g. `/api/...`.
    raw: String,
    /// Normalised: leading slash ensured, one trailing slash removed.
    based: String,
    kind: RouteKind,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum RouteKind {
    Exact(String),
    /// The prefix before `/...`; empty for the catch-all `/...`.
    Wildcard(String),
}

/// The route a request matched and what Spin derives from it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RouteMatch {
    pub(crate) component: String,
    /// `spin-matched-route`: the normalised route.
    pub(crate) based_route: String,
    /// `spin-raw-component-route`: the route as written.
    pub(crate) raw_route: String,
    /// `spin-component-route`: the raw route without its `/...`.
    pub(crate) raw_route_or_prefix: String,
    /// `spin-path-info`: the part of the path after a wildcard's prefix.
    pub(crate) path_info: String,
}

impl Router {
    pub(crate) fn build(triggers: &[HttpTrigger]) -> anyhow::Result<Self> {
        let mut routes: Vec<Route> = Vec::new();
        for t in triggers {
            let RouteDecl::Path(raw) = &t.route else {
                continue;
            };
            let based = normalise(raw);
            let kind = if let Some(prefix) = based.strip_suffix("/...") {
                RouteKind::Wildcard(prefix.to_string())
            } else if let Some(prefix) = based.strip_suffix("/*") {
                RouteKind::Wildcard(prefix.to_string())
            } else {
                RouteKind::Exact(based.clone())
            };
            let pattern = match &kind {
                RouteKind::Exact(p) | RouteKind::Wildcard(p) => p,
            };
            if pattern.split('/').any(|seg| seg.starts_with(':')) {
                bail!("route {raw:?}: named `:param` segments are not supported by this host");
            }
            if pattern.contains("...") || pattern.contains('*') {
                bail!("route {raw:?}: a wildcard is only allowed as the last segment");
            }
            let route = Route { component: t.component.clone(), raw: raw.clone(), based, kind };
            // Spin keeps the last of duplicate routes.
            match routes.iter_mut().find(|r| r.raw == route.raw) {
                Some(existing) => {
                    eprintln!(
                        "hookah-host: route {:?} is declared twice; component {:?} replaces {:?}",
                        route.raw, route.component, existing.component
                    );
                    *existing = route;
                }
                None => routes.push(route),
            }
        }
        Ok(Self { routes })
    }

    /// Finds the component for a request path (without query), if any.
    pub(crate) fn route(&self, path: &str) -> Option<RouteMatch> {
        // routefinder accepts one trailing slash after an exact route.
        let trimmed = path.strip_suffix('/').unwrap_or(path);
        let exact = self.routes.iter().find(|r| matches!(&r.kind, RouteKind::Exact(p) if p == trimmed));
        if let Some(r) = exact {
            return Some(r.matched(String::new()));
        }
        self.routes
            .iter()
            .filter_map(|r| match &r.kind {
                RouteKind::Wildcard(prefix) if wildcard_matches(prefix, path) => Some((prefix.len(), r)),
                _ => None,
            })
            .max_by_key(|(len, _)| *len)
            .map(|(len, r)| r.matched(path[len..].to_string()))
    }
}

impl Route {
    fn matched(&self, path_info: String) -> RouteMatch {
        RouteMatch {
            component: self.component.clone(),
            based_route: self.based.clone(),
            raw_route: self.raw.clone(),
            raw_route_or_prefix: self.raw.strip_suffix("/...").unwrap_or(&self.raw).to_string(),
            path_info,
        }
    }
}

fn wildcard_matches(prefix: &str, path: &str) -> bool {
    match path.strip_prefix(prefix) {
        Some(rest) => rest.is_empty() || rest.starts_with('/'),
        None => false,
    }
}

/// Spin's `sanitize_with_base("/", route)`: absolute, one trailing slash dropped.
fn normalise(raw: &str) -> String {
    let abs = if raw.starts_with('/') { raw.to_string() } else { format!("/{raw}") };
    match abs.strip_suffix('/') {
        Some(s) => s.to_string(),
        None => abs,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn router(routes: &[(&str, &str)]) -> Router {
        let triggers: Vec<HttpTrigger> = routes
            .iter()
            .map(|(component, route)| HttpTrigger {
                route: RouteDecl::Path(route.to_string()),
                component: component.to_string(),
            })
            .collect();
        Router::build(&triggers).unwrap()
    }

    /// (path, expected component, expected path-info)
    fn check(r: &Router, path: &str, expected: Option<(&str, &str)>) {
        let got = r.route(path);
        let got = got.as_ref().map(|m| (m.component.as_str(), m.path_info.as_str()));
        assert_eq!(got, expected, "path {path:?}");
    }

    #[test]
    fn exact_and_wildcard_precedence() {
        let r = router(&[
            ("all", "/..."),
            ("one", "/one/..."),
            ("onetwo", "/one/two/..."),
            ("exact", "/one/two"),
            ("root", "/"),
        ]);
        check(&r, "/", Some(("root", "")));
        check(&r, "/x", Some(("all", "/x")));
        check(&r, "/x/", Some(("all", "/x/")));
        check(&r, "/one", Some(("one", "")));
        check(&r, "/one/", Some(("one", "/")));
        check(&r, "/onex", Some(("all", "/onex")));
        check(&r, "/one/two", Some(("exact", "")));
        check(&r, "/one/two/", Some(("exact", "")));
        check(&r, "/one/two/three", Some(("onetwo", "/three")));
        check(&r, "/one/three/", Some(("one", "/three/")));
    }

    #[test]
    fn order_does_not_matter_and_unmatched_is_none() {
        let r = router(&[("deep", "/a/b/..."), ("shallow", "/a/...")]);
        check(&r, "/a/b/c", Some(("deep", "/c")));
        check(&r, "/a/c", Some(("shallow", "/c")));
        check(&r, "/b", None);
        check(&r, "/", None);
    }

    #[test]
    fn catch_all_matches_root() {
        let r = router(&[("all", "/...")]);
        check(&r, "/", Some(("all", "/")));
        check(&r, "/jobs/123", Some(("all", "/jobs/123")));
    }

    #[test]
    fn last_duplicate_wins() {
        let r = router(&[("first", "/foo"), ("second", "/foo")]);
        check(&r, "/foo", Some(("second", "")));
    }

    #[test]
    fn route_headers_follow_spin() {
        let r = router(&[("c", "/api/...")]);
        let m = r.route("/api/v1/jobs").unwrap();
        assert_eq!(m.based_route, "/api/...");
        assert_eq!(m.raw_route, "/api/...");
        assert_eq!(m.raw_route_or_prefix, "/api");
        assert_eq!(m.path_info, "/v1/jobs");

        let r = router(&[("c", "/...")]);
        let m = r.route("/x").unwrap();
        assert_eq!(m.based_route, "/...");
        assert_eq!(m.raw_route_or_prefix, "");
    }

    #[test]
    fn private_routes_are_not_routable_and_params_are_rejected() {
        let r = Router::build(&[HttpTrigger { route: RouteDecl::Private, component: "p".into() }]).unwrap();
        check(&r, "/", None);
        assert!(Router::build(&[HttpTrigger { route: RouteDecl::Path("/users/:id".into()), component: "u".into() }])
            .is_err());
    }
}
