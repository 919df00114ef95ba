use crate::helpers::jwt::{claims, now, secret, sign};
use crate::helpers::*;
use crate::on_both_backends;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::json;

on_both_backends!(
    bad_tokens_are_refused_with_401_and_charge_nothing,
    |backend| async move {
        let Some(app) = TestApp::spawn(backend).await else {
            return;
        };
        let key = secret(&app);
        let q = json!({"dimensions": ["gender"]});

        let none_header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#);
        let payload = URL_SAFE_NO_PAD.encode(claims("mallory").to_string());
        let alg_none = format!("{none_header}.{payload}.");
        let wrong_signature = sign(&claims("mallory"), b"another secret that is long enough!!");
        let mut expired = claims("mallory");
        expired["exp"] = json!(now() - 3600);
        let expired = sign(&expired, &key);
        let mut no_aud = claims("mallory");
        no_aud.as_object_mut().map(|o| o.remove("aud"));
        let no_aud = sign(&no_aud, &key);
        let mut wrong_aud = claims("mallory");
        wrong_aud["aud"] = json!("someone-else");
        let wrong_aud = sign(&wrong_aud, &key);
        let mut not_yet = claims("mallory");
        not_yet["nbf"] = json!(now() + 3600);
        let not_yet = sign(&not_yet, &key);
        let mut no_country = claims("mallory");
        no_country["role"] = json!("government");
        let no_country = sign(&no_country, &key);

        for (what, token) in [
            ("alg none", alg_none),
            ("wrong signature", wrong_signature),
            ("expired", expired),
            ("missing aud", no_aud),
            ("wrong aud", wrong_aud),
            ("nbf in the future", not_yet),
            ("government without country", no_country),
            ("garbage", "not.a.token".into()),
        ] {
            let res = app.post_json("/v1/counts", &token, &q).await;
            let www = res
                .headers()
                .get("www-authenticate")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_owned();
            assert!(
                www.starts_with("Bearer"),
                "{what}: WWW-Authenticate {www:?}"
            );
            assert_problem(res, 401, "auth.invalid_token").await;
        }
        let res = app
            .client
            .post(app.url("/v1/counts"))
            .json(&q)
            .send()
            .await
            .expect("no token");
        assert_problem(res, 401, "auth.invalid_token").await;
        assert_eq!(app.budget("mallory").await.0, 0);
        assert_eq!(app.global_spent().await, 0);

        // The same claims properly signed are accepted.
        let good = sign(&claims("mallory"), &key);
        assert_eq!(
            app.post_json("/v1/counts", &good, &q)
                .await
                .status()
                .as_u16(),
            200
        );
    }
);
