-- Withdrawal policies changed by an operator (admin API policy.set, `fiberlinkd policy set`) and
-- audited, issue 10.
--
-- fl_policy_set is the one write of a policy: the upsert `policy set` always did (a field not
-- given keeps the stored value, or takes the configured default when the app has no row yet, so
-- two operators changing different limits at once do not undo each other) and its audit_log row,
-- in one transaction. A transaction-scoped advisory lock per (app, asset) orders concurrent
-- changes of one policy, so the "before" each audit row shows is exactly the "after" of the
-- change committed just before it. The values are checked by the callers (core/policy.h, the
-- rules shared by the command and the API) and again by the table's CHECK constraints.
--
-- before: the stored row, or when the app had none the defaults it was getting, marked
-- "source": "default"; after: the stored row. Amounts in base units, as in the table.
-- No row returned: the app is not registered (nothing written, no audit row).

CREATE FUNCTION fl_policy_set(
    p_actor text, p_method text, p_params jsonb, p_app text, p_asset text,
    p_allowed boolean, p_min bigint, p_max bigint, p_user_daily bigint, p_app_daily bigint,
    p_cooldown integer, p_max_fee bigint,
    p_default_allowed boolean, p_default_min bigint, p_default_max bigint,
    p_default_user_daily bigint, p_default_app_daily bigint, p_default_cooldown integer,
    p_default_max_fee bigint)
RETURNS SETOF withdrawal_policies
LANGUAGE plpgsql AS $$
DECLARE
    v_old    withdrawal_policies;
    v_new    withdrawal_policies;
    v_before jsonb;
BEGIN
    PERFORM 1 FROM apps WHERE app_id = p_app;
    IF NOT FOUND THEN
        RETURN;
    END IF;
    PERFORM pg_advisory_xact_lock(hashtextextended('policy:' || p_app || '/' || p_asset, 0));
    SELECT * INTO v_old FROM withdrawal_policies WHERE app_id = p_app AND asset = p_asset;
    IF FOUND THEN
        v_before := to_jsonb(v_old);
    ELSE
        v_before := jsonb_build_object(
            'source', 'default', 'app_id', p_app, 'asset', p_asset,
            'allowed', p_default_allowed, 'min_amount', p_default_min,
            'max_per_request', p_default_max, 'per_user_daily', p_default_user_daily,
            'per_app_daily', p_default_app_daily, 'cooldown_seconds', p_default_cooldown,
            'max_fee_amount', p_default_max_fee);
    END IF;
    INSERT INTO withdrawal_policies AS p (app_id, asset, allowed, min_amount, max_per_request,
                                          per_user_daily, per_app_daily, cooldown_seconds,
                                          max_fee_amount)
    VALUES (p_app, p_asset, coalesce(p_allowed, p_default_allowed), coalesce(p_min, p_default_min),
            coalesce(p_max, p_default_max), coalesce(p_user_daily, p_default_user_daily),
            coalesce(p_app_daily, p_default_app_daily), coalesce(p_cooldown, p_default_cooldown),
            coalesce(p_max_fee, p_default_max_fee))
    ON CONFLICT (app_id, asset) DO UPDATE SET
        allowed = coalesce(p_allowed, p.allowed),
        min_amount = coalesce(p_min, p.min_amount),
        max_per_request = coalesce(p_max, p.max_per_request),
        per_user_daily = coalesce(p_user_daily, p.per_user_daily),
        per_app_daily = coalesce(p_app_daily, p.per_app_daily),
        cooldown_seconds = coalesce(p_cooldown, p.cooldown_seconds),
        max_fee_amount = coalesce(p_max_fee, p.max_fee_amount),
        updated_at = now()
    RETURNING * INTO v_new;
    PERFORM fl_audit(p_actor, p_method, p_app, p_asset, p_params, v_before, to_jsonb(v_new));
    RETURN NEXT v_new;
END
$$;
