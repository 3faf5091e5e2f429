-- App secrets sealed at rest, and secret rotation with overlap (API.md "Admin API", issue 10).
--
-- secret_enc holds the app's HMAC secret sealed by the daemon (core/seal.h: purpose "app-secret",
-- associated data the app id); the database never sees it in plaintext. hmac_secret is the legacy
-- plaintext column: it is kept only until the daemon seals the row (`fiberlinkd migrate` with a key
-- configured, `serve` at start-up, or the first lookup of an app created by a command that had no
-- key), which sets secret_enc and clears hmac_secret in one UPDATE. A row has exactly one of them.
--
-- A rotation moves secret_enc to prev_secret_enc (same purpose and row, so the sealed bytes move
-- as they are) with prev_retires_at = now + grace, and stores the new sealed secret. A request
-- signed with either passes while now < prev_retires_at. finish_rotation clears the previous
-- secret and records when it retired; a rotation during a rotation drops the older previous secret
-- at once (only two secrets are ever accepted).

ALTER TABLE apps
    ALTER COLUMN hmac_secret DROP NOT NULL,
    ADD COLUMN secret_enc bytea,
    ADD COLUMN prev_secret_enc bytea,
    ADD COLUMN prev_retires_at timestamptz,
    ADD COLUMN rotated_at timestamptz,
    ADD CONSTRAINT apps_one_secret CHECK ((hmac_secret IS NULL) <> (secret_enc IS NULL)),
    ADD CONSTRAINT apps_prev_retires CHECK (prev_secret_enc IS NULL OR prev_retires_at IS NOT NULL);

-- apps.list: newest first, keyset-paginated on (created_at, app_id).
CREATE INDEX apps_created_idx ON apps (created_at, app_id);

-- What the admin API and the audit log show of an app: never a secret, sealed or not.
CREATE FUNCTION fl_app_public(a apps) RETURNS jsonb
LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object(
        'appId', a.app_id,
        'createdAt', to_char(a.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
        'rotating', a.prev_secret_enc IS NOT NULL AND a.prev_retires_at > now(),
        'previousRetiresAt',
            to_char(a.prev_retires_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
        'rotatedAt', to_char(a.rotated_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'))
$$;

-- apps.create and `fiberlinkd app create`: the app with its sealed secret (p_secret_enc), or, only
-- from a command run without any key, its plaintext (p_plain). One audit row when created; nothing
-- when the id exists (created = false, the caller decides what that means).
CREATE FUNCTION fl_app_create(p_actor text, p_method text, p_app_id text, p_secret_enc bytea,
                              p_plain text, p_params jsonb)
RETURNS TABLE (created boolean, app jsonb)
LANGUAGE plpgsql AS $$
DECLARE
    a apps;
BEGIN
    INSERT INTO apps (app_id, hmac_secret, secret_enc) VALUES (p_app_id, p_plain, p_secret_enc)
    ON CONFLICT (app_id) DO NOTHING
    RETURNING * INTO a;
    IF NOT FOUND THEN
        RETURN QUERY SELECT false, NULL::jsonb;
        RETURN;
    END IF;
    PERFORM fl_audit(p_actor, p_method, p_app_id, p_app_id, p_params, NULL, fl_app_public(a));
    RETURN QUERY SELECT true, fl_app_public(a);
END
$$;

-- apps.rotate_secret: outcome ROTATED, NOT_FOUND, or UNSEALED. p_grace_seconds = 0 retires the
-- old secret at once. A row still holding a legacy plaintext secret needs p_legacy_enc, that
-- secret sealed by the caller (who read it first; an existing app's plaintext never changes), which
-- becomes the previous secret; without it the outcome is UNSEALED and nothing changes.
CREATE FUNCTION fl_app_rotate_secret(p_actor text, p_method text, p_app_id text,
                                     p_new_enc bytea, p_grace_seconds integer, p_params jsonb,
                                     p_legacy_enc bytea)
RETURNS TABLE (outcome text, app jsonb)
LANGUAGE plpgsql AS $$
DECLARE
    a apps;
    b apps;
    t timestamptz := now();
BEGIN
    IF p_grace_seconds < 0 THEN
        RAISE EXCEPTION 'grace must not be negative';
    END IF;
    SELECT * INTO a FROM apps WHERE app_id = p_app_id FOR UPDATE;
    IF NOT FOUND THEN
        RETURN QUERY SELECT 'NOT_FOUND'::text, NULL::jsonb;
        RETURN;
    END IF;
    IF a.secret_enc IS NULL AND p_legacy_enc IS NULL THEN
        RETURN QUERY SELECT 'UNSEALED'::text, NULL::jsonb;
        RETURN;
    END IF;
    UPDATE apps
       SET prev_secret_enc = CASE WHEN p_grace_seconds > 0
                                  THEN coalesce(a.secret_enc, p_legacy_enc) END,
           hmac_secret = NULL,
           prev_retires_at = t + make_interval(secs => p_grace_seconds),
           secret_enc = p_new_enc,
           rotated_at = t
     WHERE app_id = p_app_id
    RETURNING * INTO b;
    PERFORM fl_audit(p_actor, p_method, p_app_id, p_app_id, p_params, fl_app_public(a),
                     fl_app_public(b));
    RETURN QUERY SELECT 'ROTATED'::text, fl_app_public(b);
END
$$;

-- apps.finish_rotation: outcome FINISHED, NOT_FOUND, or NO_ROTATION (no previous secret is
-- accepted any more: nothing to do, nothing audited).
CREATE FUNCTION fl_app_finish_rotation(p_actor text, p_method text, p_app_id text, p_params jsonb)
RETURNS TABLE (outcome text, app jsonb)
LANGUAGE plpgsql AS $$
DECLARE
    a apps;
    b apps;
BEGIN
    SELECT * INTO a FROM apps WHERE app_id = p_app_id FOR UPDATE;
    IF NOT FOUND THEN
        RETURN QUERY SELECT 'NOT_FOUND'::text, NULL::jsonb;
        RETURN;
    END IF;
    IF a.prev_secret_enc IS NULL OR a.prev_retires_at <= now() THEN
        RETURN QUERY SELECT 'NO_ROTATION'::text, fl_app_public(a);
        RETURN;
    END IF;
    UPDATE apps SET prev_secret_enc = NULL, prev_retires_at = now()
     WHERE app_id = p_app_id
    RETURNING * INTO b;
    PERFORM fl_audit(p_actor, p_method, p_app_id, p_app_id, p_params, fl_app_public(a),
                     fl_app_public(b));
    RETURN QUERY SELECT 'FINISHED'::text, fl_app_public(b);
END
$$;
