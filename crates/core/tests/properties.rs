//! Properties that must hold for any input: the domain's parsers never panic, and what they
//! accept is well-formed.

use passerelle_core::flow::{ActionEvent, ActionState, Behaviour, advance};
use passerelle_core::nin::{is_valid_eid_card_number, parse_national_number};
use passerelle_core::oidc::{ClientPolicy, Params, validate_authorization_request, verify_pkce};
use passerelle_core::scopes::{Account, GrantedScopes};
use proptest::prelude::*;

proptest! {
    #[test]
    fn backchannel_requests_never_panic(pairs in proptest::collection::vec(("[a-z_]{1,18}", ".{0,80}"), 0..10), ping in proptest::bool::ANY) {
        use passerelle_core::ciba::{CibaPolicy, Hint, validate_backchannel_request};
        use passerelle_core::oidc::CibaMode;
        let Ok(params) = Params::from_pairs(pairs) else { return Ok(()) };
        let mode = if ping { CibaMode::Ping } else { CibaMode::Poll };
        let policy = CibaPolicy { account: Account::Production, grants: &[], mode };
        if let Ok(r) = validate_backchannel_request(&params, policy) {
            prop_assert!(r.scopes.contains("openid"));
            if let Hint::Phone(p) = &r.hint {
                prop_assert!(passerelle_core::ciba::is_e164(p));
            }
            prop_assert_eq!(r.client_notification_token.is_some(), ping);
            if let Some(m) = &r.binding_message {
                prop_assert!(m.chars().count() <= 64 && !m.contains('\n'));
            }
        }
    }

    #[test]
    fn national_numbers_never_panic_and_valid_ones_are_eleven_digits(s in ".{0,20}", year in 1990i32..2100) {
        if parse_national_number(&s, year).is_some() {
            prop_assert!(s.len() == 11 && s.bytes().all(|b| b.is_ascii_digit()));
        }
        let _ = is_valid_eid_card_number(&s);
    }

    #[test]
    fn a_valid_national_number_fails_with_any_other_check_digits(first9 in 0u64..1_000_000_000, bump in 1u64..97) {
        let check = 97 - (first9 % 97);
        let nn = format!("{first9:09}{check:02}");
        let wrong = format!("{first9:09}{:02}", (check + bump - 1) % 97 + 1);
        // The month may be out of range, in which case neither is valid.
        if parse_national_number(&nn, 1999).is_some() {
            prop_assert!(wrong == nn || parse_national_number(&wrong, 1999).is_none());
        }
    }

    #[test]
    fn authorization_requests_never_panic(pairs in proptest::collection::vec(("[a-z_]{1,14}", ".{0,60}"), 0..12)) {
        let Ok(params) = Params::from_pairs(pairs) else { return Ok(()) };
        let uris = vec!["https://rp.example/cb".to_string()];
        let policy = ClientPolicy { redirect_uris: &uris, account: Account::Production, grants: &[] };
        let _ = validate_authorization_request(&params, &policy);
    }

    #[test]
    fn scope_strings_never_panic_and_round_trip(scope in "[a-z -]{0,80}") {
        if let Ok(s) = GrantedScopes::parse(&scope, Account::Sandbox, &[]) {
            let again = GrantedScopes::parse(&s.to_scope_string(), Account::Sandbox, &[]);
            prop_assert_eq!(again.map(|a| a.to_scope_string()), Ok(s.to_scope_string()));
        }
    }

    #[test]
    fn pkce_never_panics(v in ".{0,200}", c in ".{0,60}") {
        let _ = verify_pkce(&v, &c);
    }

    #[test]
    fn the_app_state_machine_never_panics_and_stays_decided(events in proptest::collection::vec(0u8..9, 0..12), t in 0i64..500) {
        let mut state = ActionState::AwaitingPhone;
        let mut now = 1_000;
        for e in events {
            let event = match e {
                0 => ActionEvent::PhoneSubmitted { behaviour: Behaviour::Manual, app_timeout_secs: 120 },
                1 => ActionEvent::CodeEntered { correct: true },
                2 => ActionEvent::CodeEntered { correct: false },
                3 => ActionEvent::RefusePressed,
                4 => ActionEvent::Observed,
                5 => ActionEvent::AccountBlocked,
                6 => ActionEvent::BiometricsConfirmed { method: passerelle_core::flow::Method::Fingerprint, allowed: true },
                7 => ActionEvent::BiometricsConfirmed { method: passerelle_core::flow::Method::Face, allowed: false },
                _ => ActionEvent::CodeRedeemed,
            };
            now += t % 60;
            let was_decided = state.is_decided();
            if let Ok((next, _)) = advance(state, event, now) {
                prop_assert!(!was_decided || next.is_decided(), "a decided action cannot be undecided");
                state = next;
            }
        }
    }

    #[test]
    fn the_login_state_machine_never_panics_and_never_leaves_an_end(events in proptest::collection::vec(0u8..10, 0..14), step in 0i64..200, channel in 0usize..4) {
        use passerelle_core::login::{self, Channel, Effect, Failure, Login, LoginEvent, LoginState};
        // Every channel, the decoupled ones (CIBA poll and ping) included.
        let channel = Channel::ALL[channel];
        let mut l = Login { state: LoginState::Requested, channel, expires_at: 1_600 };
        let mut now = 1_000;
        let mut answered = 0;
        let mut redeemed = 0;
        for e in events {
            let event = match e {
                0 => LoginEvent::SentToScheme,
                1 => LoginEvent::SchemeAnswered,
                2 => LoginEvent::CodeIssued,
                3 => LoginEvent::CodeRedeemed,
                4 => LoginEvent::Failed(Failure::Denied),
                5 => LoginEvent::Failed(Failure::SchemeUnavailable),
                6 => LoginEvent::Failed(Failure::Expired),
                7 => LoginEvent::Failed(Failure::SchemeError),
                _ => LoginEvent::Observed,
            };
            now += step;
            let was_final = l.state.is_final();
            if let Ok((next, effects)) = login::advance(l, event, now) {
                prop_assert!(!was_final || next.state == l.state, "an ended login cannot move");
                prop_assert_eq!(next.channel, channel, "a login keeps its channel");
                for e in effects {
                    let (Effect::DeliverCode(c) | Effect::DeliverError(c, _)) = e;
                    prop_assert_eq!(c, channel, "results go through the login's channel");
                }
                if next.state == LoginState::Answered && l.state != LoginState::Answered { answered += 1; }
                if next.state == LoginState::Redeemed && l.state != LoginState::Redeemed { redeemed += 1; }
                l = next;
            }
        }
        prop_assert!(answered <= 1 && redeemed <= 1);
    }
}
