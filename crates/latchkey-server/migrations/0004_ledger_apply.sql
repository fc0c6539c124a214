-- One round trip per ledger write. `ledger_apply` runs a whole grant, spend, reserve, capture or
-- release (with its idempotency key) inside the calling statement's transaction, replacing the
-- nine statements the server used to send one after another (BEGIN, find the user, lock the
-- balance row, look up the key, find lapsed holds, insert the entry, read the balance, store the
-- key, COMMIT): `make bench-server` measured those round trips, not the work, as the cost.
-- The invariants stay where 0001 put them (CHECKs, append-only entries, the balance trigger,
-- holds settle once); this function only decides, as `ledger::pg` did, what to append.
--
-- It returns `{"receipt": Receipt}` (the first receipt again for a replayed key), or, when the
-- operation is refused after lapsed holds were recorded as expired (which must be kept),
-- `{"error": ...}`. Any other refusal raises SQLSTATE 'LK001' with the same JSON as its message,
-- so the statement's transaction rolls back and nothing at all is recorded:
--   {"error": "insufficient_credits", "available": N, "requested": M}
--   {"error": "idempotency_conflict"}
--   {"error": "unknown_entry"}
--   {"error": "capture_exceeds_hold", "held": N, "requested": M}
-- Forward-only: never edit this file once shipped.

CREATE FUNCTION ledger_entry_json(e entries) RETURNS jsonb LANGUAGE sql IMMUTABLE AS $$
    SELECT jsonb_strip_nulls(jsonb_build_object(
        'seq', e.server_seq, 'kind', e.kind, 'amount', e.amount, 'hold', e.hold_seq,
        'expires_at', e.expires_at, 'memo', e.memo, 'created_at', e.created_at))
$$;

CREATE FUNCTION ledger_apply(
    p_issuer text, p_subject text, p_key text, p_op text, p_params jsonb,
    p_amount bigint, p_hold bigint, p_ttl_secs bigint, p_memo text, p_now timestamptz
) RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    v_user    bigint;
    v_posted  bigint;
    v_held    bigint;
    v_params  jsonb;
    v_result  jsonb;
    v_lapsed  boolean := false;
    v_err     jsonb;
    v_amount  bigint;
    v_e       entries;
    v_entries jsonb := '[]';
    v_receipt jsonb;
    r         record;
BEGIN
    IF p_issuer = '' OR p_subject = '' THEN
        RAISE EXCEPTION 'empty issuer or subject' USING ERRCODE = 'check_violation';
    END IF;
    SELECT id INTO v_user FROM users WHERE issuer = p_issuer AND subject = p_subject;
    IF v_user IS NULL THEN
        INSERT INTO users (issuer, subject, created_at) VALUES (p_issuer, p_subject, p_now)
            ON CONFLICT (issuer, subject) DO NOTHING RETURNING id INTO v_user;
        IF v_user IS NULL THEN
            -- Another transaction created the user (and its balance row) and has committed.
            SELECT id INTO STRICT v_user FROM users WHERE issuer = p_issuer AND subject = p_subject;
        ELSE
            INSERT INTO balances (user_id) VALUES (v_user);
        END IF;
    END IF;

    -- Serialises every writer of this user until commit.
    SELECT posted, held INTO STRICT v_posted, v_held FROM balances WHERE user_id = v_user FOR UPDATE;

    IF p_key IS NOT NULL THEN
        SELECT params, result INTO v_params, v_result
            FROM idempotency_keys WHERE user_id = v_user AND key = p_key;
        IF FOUND THEN
            IF v_params <> p_params THEN
                RAISE EXCEPTION USING ERRCODE = 'LK001',
                    MESSAGE = '{"error": "idempotency_conflict"}';
            END IF;
            RETURN jsonb_build_object('receipt', v_result);
        END IF;
    END IF;

    -- Lapsed holds are settled first, so they neither block nor get captured.
    FOR r IN SELECT hold_seq, amount FROM holds
             WHERE user_id = v_user AND settled_seq IS NULL AND expires_at <= p_now
             ORDER BY hold_seq LOOP
        INSERT INTO entries (user_id, kind, amount, hold_seq, created_at)
            VALUES (v_user, 'expire', r.amount, r.hold_seq, p_now) RETURNING * INTO v_e;
        UPDATE holds SET settled_seq = v_e.server_seq, captured = 0 WHERE hold_seq = r.hold_seq;
        v_held := v_held - r.amount;
        v_lapsed := true;
    END LOOP;

    IF p_op IN ('spend', 'reserve') AND p_amount > v_posted - v_held THEN
        v_err := jsonb_build_object('error', 'insufficient_credits',
                                    'available', v_posted - v_held, 'requested', p_amount);
    ELSIF p_op IN ('capture', 'release') THEN
        SELECT amount INTO v_amount FROM holds
            WHERE hold_seq = p_hold AND user_id = v_user AND settled_seq IS NULL;
        IF v_amount IS NULL THEN
            v_err := '{"error": "unknown_entry"}';
        ELSIF p_op = 'capture' AND p_amount > v_amount THEN
            v_err := jsonb_build_object('error', 'capture_exceeds_hold',
                                        'held', v_amount, 'requested', p_amount);
        END IF;
    END IF;
    IF v_err IS NOT NULL THEN
        IF v_lapsed THEN
            -- Keep the expiries: a refused operation still records the lapsed holds.
            RETURN v_err;
        END IF;
        RAISE EXCEPTION USING ERRCODE = 'LK001', MESSAGE = v_err::text;
    END IF;

    CASE p_op
        WHEN 'grant', 'spend' THEN
            INSERT INTO entries (user_id, kind, amount, memo, created_at)
                VALUES (v_user, p_op, p_amount, p_memo, p_now) RETURNING * INTO v_e;
            v_entries := v_entries || ledger_entry_json(v_e);
        WHEN 'reserve' THEN
            INSERT INTO entries (user_id, kind, amount, expires_at, memo, created_at)
                VALUES (v_user, 'hold', p_amount, p_now + make_interval(secs => p_ttl_secs),
                        p_memo, p_now)
                RETURNING * INTO v_e;
            INSERT INTO holds (hold_seq, user_id, amount, expires_at)
                VALUES (v_e.server_seq, v_user, p_amount, v_e.expires_at);
            v_entries := v_entries || ledger_entry_json(v_e);
        WHEN 'capture' THEN
            INSERT INTO entries (user_id, kind, amount, hold_seq, created_at)
                VALUES (v_user, 'capture', p_amount, p_hold, p_now) RETURNING * INTO v_e;
            UPDATE holds SET settled_seq = v_e.server_seq, captured = p_amount
                WHERE hold_seq = p_hold;
            v_entries := v_entries || ledger_entry_json(v_e);
            IF v_amount > p_amount THEN
                INSERT INTO entries (user_id, kind, amount, hold_seq, created_at)
                    VALUES (v_user, 'release', v_amount - p_amount, p_hold, p_now)
                    RETURNING * INTO v_e;
                v_entries := v_entries || ledger_entry_json(v_e);
            END IF;
        WHEN 'release' THEN
            INSERT INTO entries (user_id, kind, amount, hold_seq, created_at)
                VALUES (v_user, 'release', v_amount, p_hold, p_now) RETURNING * INTO v_e;
            UPDATE holds SET settled_seq = v_e.server_seq, captured = 0 WHERE hold_seq = p_hold;
            v_entries := v_entries || ledger_entry_json(v_e);
    END CASE;

    -- The trigger moved the row; read it back rather than trust our own sums.
    SELECT posted, held INTO STRICT v_posted, v_held FROM balances WHERE user_id = v_user;
    v_receipt := jsonb_build_object('entries', v_entries, 'balance', jsonb_build_object(
        'posted', v_posted, 'held', v_held, 'available', v_posted - v_held));
    IF p_key IS NOT NULL THEN
        INSERT INTO idempotency_keys (user_id, key, operation, params, result, created_at)
            VALUES (v_user, p_key, p_op, p_params, v_receipt, p_now);
    END IF;
    RETURN jsonb_build_object('receipt', v_receipt);
END $$;
