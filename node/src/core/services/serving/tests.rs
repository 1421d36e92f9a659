use super::*;

fn call(n: u8, service: &str) -> Call {
    Call {
        v: weft_proto::service::SERVICE_VERSION,
        id: CallId([n; 16]),
        service: service.parse().unwrap(),
        body: vec![n],
        budget_ms: 1000,
    }
}

fn opts(concurrency: u32) -> OfferOpts {
    OfferOpts {
        standby: false,
        concurrency,
        max_inflight: None,
        max_cpu_permille: None,
    }
}

const ALICE: MemberKey = MemberKey([1; 32]);

#[test]
fn calls_run_up_to_the_concurrency_wait_then_and_a_full_queue_is_busy() {
    let (mut serving, now) = (Serving::default(), Instant::now());
    let handler = serving.offer("echo".parse().unwrap(), opts(1)).unwrap();
    assert!(
        serving.offer("echo".parse().unwrap(), opts(1)).is_none(),
        "once"
    );
    let Taken::Run(first) = serving.take(ALICE, 1, call(1, "echo"), now) else {
        panic!("the first runs");
    };
    assert_eq!(first.handler, handler);
    for n in 2..=1 + MAX_QUEUED_PER_SLOT as u8 {
        assert_eq!(serving.take(ALICE, 1, call(n, "echo"), now), Taken::Queued);
    }
    assert_eq!(
        serving.take(ALICE, 1, call(99, "echo"), now),
        Taken::Answer(Outcome::Refused(Refusal::Busy))
    );
    assert_eq!(
        serving.take(ALICE, 1, call(100, "other"), now),
        Taken::Answer(Outcome::Refused(Refusal::NotOffered))
    );
    let later = now + Duration::from_millis(3);
    let (answered, next) = serving
        .served(first.serve, Outcome::Ok(b"1".to_vec()), later)
        .unwrap();
    assert_eq!((answered.session, answered.id), (1, CallId([1; 16])));
    assert_eq!(next.unwrap().body, vec![2], "the next waiting one runs");
    let load = &serving.offers()[0].load;
    assert_eq!((load.in_flight, load.queued, load.served), (1, 3, 1));
    assert_eq!(load.mean_us, 3000);
}

#[test]
fn a_retry_is_not_run_twice_and_gets_the_kept_answer() {
    let (mut serving, now) = (Serving::default(), Instant::now());
    serving.offer("echo".parse().unwrap(), opts(4)).unwrap();
    let Taken::Run(serve) = serving.take(ALICE, 1, call(1, "echo"), now) else {
        panic!("it runs");
    };
    // The caller's stream broke; it sends the call again on a new one.
    assert_eq!(serving.take(ALICE, 2, call(1, "echo"), now), Taken::Running);
    let (answered, _) = serving
        .served(serve.serve, Outcome::Ok(b"x".to_vec()), now)
        .unwrap();
    assert_eq!(
        answered.session, 2,
        "the reply goes where the call came from last"
    );
    assert_eq!(
        serving.take(ALICE, 3, call(1, "echo"), now),
        Taken::Answer(Outcome::Ok(b"x".to_vec()))
    );
    // Another caller's call with the same id is its own.
    assert!(matches!(
        serving.take(MemberKey([2; 32]), 4, call(1, "echo"), now),
        Taken::Run(_)
    ));
    serving.expire(now + DEDUP_WINDOW);
    assert!(matches!(
        serving.take(ALICE, 3, call(1, "echo"), now),
        Taken::Run(_)
    ));
}

#[test]
fn a_withdrawn_handler_answers_what_it_held_as_not_offered() {
    let (mut serving, now) = (Serving::default(), Instant::now());
    let handler = serving.offer("echo".parse().unwrap(), opts(1)).unwrap();
    serving.take(ALICE, 1, call(1, "echo"), now);
    serving.take(ALICE, 1, call(2, "echo"), now);
    let answered = serving.withdraw(handler);
    assert_eq!(answered.len(), 2);
    assert!(
        answered
            .iter()
            .all(|a| a.outcome == Outcome::Refused(Refusal::NotOffered))
    );
    assert!(!serving.is_offering());
}

#[test]
fn past_its_limits_an_offer_is_overloaded_and_busy() {
    let (mut serving, now) = (Serving::default(), Instant::now());
    let limited = OfferOpts {
        max_inflight: Some(1),
        max_cpu_permille: Some(900),
        ..opts(4)
    };
    serving.offer("echo".parse().unwrap(), limited).unwrap();
    assert!(matches!(
        serving.take(ALICE, 1, call(1, "echo"), now),
        Taken::Run(_)
    ));
    assert!(serving.offers()[0].load.overloaded);
    assert_eq!(
        serving.take(ALICE, 1, call(2, "echo"), now),
        Taken::Answer(Outcome::Refused(Refusal::Busy))
    );
    let mut idle = Serving::default();
    idle.offer("echo".parse().unwrap(), limited).unwrap();
    idle.machine(950, 100);
    assert!(
        idle.offers()[0].load.overloaded,
        "the machine is past its CPU limit"
    );
}
