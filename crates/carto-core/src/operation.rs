//! One road for both platforms: [`Operation<C>`] is "an endpoint built with a context
//! of type `C`", implemented by every v2 [`Endpoint`] (with [`RequestContext`]) and
//! every CARTO 3 [`ApiEndpoint`] (with [`ApiContext`]). A driver written once over
//! `C: SendContext, E: Operation<C>` sends both with the same attempt and retry
//! machine; code that names `Endpoint` and `RequestContext` keeps compiling unchanged.

use crate::carto3::{ApiContext, ApiEndpoint};
use crate::endpoint::{Endpoint, HttpRequest, HttpResponse, RequestContext};
use crate::error::Error;
use crate::retry::RetryPolicy;

/// What a driver needs of a context besides building requests with it.
pub trait SendContext {
    /// How requests built with this context are retried.
    fn retry_policy(&self) -> RetryPolicy;
}

impl SendContext for RequestContext {
    fn retry_policy(&self) -> RetryPolicy {
        RequestContext::retry_policy(self)
    }
}

impl SendContext for ApiContext {
    fn retry_policy(&self) -> RetryPolicy {
        ApiContext::retry_policy(self)
    }
}

/// A remote operation whose request is built with a context of type `C`.
pub trait Operation<C: ?Sized> {
    /// What a successful response becomes.
    type Output;

    /// Builds the HTTP request.
    fn to_request(&self, ctx: &C) -> Result<HttpRequest, Error>;

    /// Parses the HTTP response (error statuses included).
    fn parse(&self, response: HttpResponse) -> Result<Self::Output, Error>;

    /// Whether sending the request twice has the same effect as once.
    fn is_idempotent(&self) -> bool;
}

impl<E: Endpoint + ?Sized> Operation<RequestContext> for E {
    type Output = E::Output;

    fn to_request(&self, ctx: &RequestContext) -> Result<HttpRequest, Error> {
        Endpoint::to_request(self, ctx)
    }

    fn parse(&self, response: HttpResponse) -> Result<E::Output, Error> {
        Endpoint::parse(self, response)
    }

    fn is_idempotent(&self) -> bool {
        Endpoint::is_idempotent(self)
    }
}

impl<E: ApiEndpoint + ?Sized> Operation<ApiContext> for E {
    type Output = E::Output;

    fn to_request(&self, ctx: &ApiContext) -> Result<HttpRequest, Error> {
        ApiEndpoint::to_request(self, ctx)
    }

    fn parse(&self, response: HttpResponse) -> Result<E::Output, Error> {
        ApiEndpoint::parse(self, response)
    }

    fn is_idempotent(&self) -> bool {
        ApiEndpoint::is_idempotent(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::carto3::{AccessToken, ApiBaseUrl};
    use crate::endpoint::check_status;
    use crate::retry::{Decision, Outcome, Retry};
    use crate::{BaseUrl, Credentials};
    use http::Method;
    use std::time::Duration;

    /// A driver written once: build, "send" through `respond`, decide, parse.
    fn drive<C, E>(
        ctx: &C,
        endpoint: &E,
        mut respond: impl FnMut(&HttpRequest) -> HttpResponse,
    ) -> (Result<E::Output, Error>, Vec<String>)
    where
        C: SendContext,
        E: Operation<C>,
    {
        let mut retry = Retry::new(ctx.retry_policy(), endpoint.is_idempotent(), true).with_seed(1);
        let mut seen = Vec::new();
        loop {
            let request = match endpoint.to_request(ctx) {
                Ok(r) => r,
                Err(e) => return (Err(e), seen),
            };
            seen.push(format!("{} {}", request.method(), request.uri().path()));
            let response = respond(&request);
            let outcome = Outcome::Response {
                status: response.status(),
                headers: response.headers(),
                body: response.body(),
            };
            match retry.decide(outcome, Duration::ZERO) {
                Decision::RetryAfter(_) => continue,
                Decision::Stop(_) => return (endpoint.parse(response), seen),
            }
        }
    }

    struct V2Ping;
    impl Endpoint for V2Ping {
        type Output = u16;
        fn to_request(&self, ctx: &RequestContext) -> Result<HttpRequest, Error> {
            ctx.request(Method::GET, &["api", "v2", "sql"]).build()
        }
        fn parse(&self, response: HttpResponse) -> Result<u16, Error> {
            check_status(&response)?;
            Ok(response.status().as_u16())
        }
        fn is_idempotent(&self) -> bool {
            true
        }
    }

    struct V3Create;
    impl ApiEndpoint for V3Create {
        type Output = u16;
        fn to_request(&self, ctx: &ApiContext) -> Result<HttpRequest, Error> {
            ctx.request(Method::POST, &["v3", "tokens"])
                .json(&[0])?
                .build()
        }
        fn parse(&self, response: HttpResponse) -> Result<u16, Error> {
            check_status(&response)?;
            Ok(response.status().as_u16())
        }
    }

    fn status(code: u16) -> HttpResponse {
        http::Response::builder()
            .status(code)
            .body(Vec::new())
            .unwrap()
    }

    #[test]
    fn one_driver_sends_both_platforms_with_their_retry_rules() {
        let v2 = RequestContext::new(Credentials::new(
            BaseUrl::parse("https://alice.carto.com").unwrap(),
            "k",
        ));
        let v3 = ApiContext::new(ApiBaseUrl::default())
            .with_access_token(&AccessToken::new("t"))
            .unwrap();
        // An idempotent v2 read is sent again after a 503.
        let mut answers = vec![status(200), status(503)];
        let (out, seen) = drive(&v2, &V2Ping, |_| answers.pop().unwrap());
        assert_eq!(out.unwrap(), 200);
        assert_eq!(seen, ["GET /api/v2/sql", "GET /api/v2/sql"]);
        // A CARTO 3 create is not: the 503 is the answer.
        let mut answers = vec![status(201), status(503)];
        let (out, seen) = drive(&v3, &V3Create, |_| answers.pop().unwrap());
        assert_eq!(out.unwrap_err().status().map(|s| s.as_u16()), Some(503));
        assert_eq!(seen, ["POST /v3/tokens"]);
    }
}
