/* Fiber Link operator console (docs/admin.md "Console"). Plain script, no framework, no build
 * step. It drives POST /admin/rpc with the admin token typed into the login form and kept in this
 * tab's sessionStorage.
 *
 * Safety rule of this file: data from the API is put on the page ONLY as text (textContent,
 * createTextNode, attribute values through setAttribute). No innerHTML, insertAdjacentHTML or
 * document.write anywhere: a tip message such as "<script>…" is shown as those characters.
 * el() below refuses event-handler attributes, style and non-fragment links, so a field name or
 * value from the server can never become markup, script or a javascript: URL.
 *
 * Views are addressed by the URL fragment (#/tips?state=SETTLED, #/withdrawals/<id>), so the
 * browser's back button and reload work. Each render sets body[data-view] and, when finished,
 * body[data-state]="ready" and a performance mark "console:ready:<view>" (the browser test reads
 * them to time the console). */
'use strict';

(function () {
    const TOKEN_KEY = 'fiberlink.adminToken';
    const RPC_URL = 'rpc'; /* relative to /admin/: works behind a path prefix too */
    const PAGE_SIZE = 50;
    const TIP_STATES = ['UNPAID', 'SETTLED', 'FAILED'];
    const WITHDRAWAL_STATES = ['PENDING', 'PROCESSING', 'RETRY_PENDING', 'LIQUIDITY_PENDING',
        'COMPLETED', 'FAILED'];
    /* Withdrawal states in which nothing can have been sent yet (API.md withdrawals.cancel); the
     * server has the last word (RETRY_PENDING only without a payment attempt). */
    const CANCELLABLE = ['PENDING', 'RETRY_PENDING', 'LIQUIDITY_PENDING'];
    const NOT_CANCELLABLE_REASON = {
        PROCESSING: 'a payout runner has claimed it and may be sending it right now; the runner ' +
            'pays it or fails and refunds it',
        COMPLETED: 'it was paid',
        FAILED: 'it has already ended (and its amount was refunded)',
    };
    const JOBS = ['invoice_poller', 'fiber_payouts', 'onchain_payouts', 'webhooks', 'alerts'];

    /* ---------------------------------------------------------------- DOM (text only) */

    const PROPS = new Set(['hidden', 'disabled', 'checked', 'value', 'type', 'name', 'required',
        'placeholder', 'htmlFor', 'min', 'max', 'step', 'selected', 'open']);

    /* el('td', {class: 'x', title: v}, 'text', childNode, [more]) — strings become text nodes. */
    function el(tag, props, ...children) {
        const e = document.createElement(tag);
        for (const [k, v] of Object.entries(props || {})) {
            if (v === undefined || v === null || v === false)
                continue;
            if (k === 'class') {
                e.className = v;
            } else if (k === 'on') {
                for (const [ev, fn] of Object.entries(v))
                    e.addEventListener(ev, fn);
            } else if (k === 'dataset') {
                Object.assign(e.dataset, v);
            } else if (PROPS.has(k)) {
                e[k] = v;
            } else {
                const name = k.toLowerCase();
                if (name.startsWith('on') || name === 'style' || name === 'src' ||
                    name === 'srcdoc' || name === 'action' || name === 'formaction')
                    throw new Error('el: attribute ' + k + ' is not allowed');
                if (name === 'href' && !String(v).startsWith('#'))
                    throw new Error('el: only #fragment links');
                e.setAttribute(k, String(v));
            }
        }
        add(e, children);
        return e;
    }

    function add(parent, children) {
        for (const c of [children].flat(Infinity)) {
            if (c === undefined || c === null || c === false)
                continue;
            parent.appendChild(c instanceof Node ? c : document.createTextNode(String(c)));
        }
        return parent;
    }

    function clear(node) {
        while (node.firstChild)
            node.removeChild(node.firstChild);
        return node;
    }

    const $ = (id) => document.getElementById(id);

    /* ---------------------------------------------------------------- session and RPC */

    class RpcError extends Error {
        constructor(code, message, data) {
            super(message);
            this.code = code;
            this.data = data;
        }
    }

    function token() {
        return sessionStorage.getItem(TOKEN_KEY);
    }

    let rpcId = 0;

    async function rpc(method, params) {
        const t = token();
        if (!t)
            throw new RpcError(-32001, 'Not logged in');
        const req = {jsonrpc: '2.0', id: ++rpcId, method: method};
        if (params !== undefined)
            req.params = params;
        let res;
        try {
            res = await fetch(RPC_URL, {
                method: 'POST',
                headers: {'Content-Type': 'application/json', 'Authorization': 'Bearer ' + t},
                body: JSON.stringify(req),
                cache: 'no-store',
                credentials: 'omit',
                referrerPolicy: 'no-referrer',
            });
        } catch (e) {
            throw new RpcError(0, 'The daemon did not answer (' + e.message + ')');
        }
        let j;
        try {
            j = await res.json();
        } catch (e) {
            throw new RpcError(0, 'HTTP ' + res.status + ' without a JSON-RPC answer');
        }
        if (j && j.error) {
            const err = new RpcError(j.error.code, j.error.message, j.error.data);
            if (err.code === -32001 && token() === t)
                logout('The token was refused (' + err.message + '): log in again.');
            throw err;
        }
        return j ? j.result : undefined;
    }

    /* "Forbidden (-32003)" plus the reason and field the server gave, as one line of text. */
    function describe(err) {
        if (!(err instanceof RpcError))
            return String(err && err.message || err);
        let s = err.message + (err.code ? ' (' + err.code + ')' : '');
        const d = err.data;
        if (d && typeof d === 'object') {
            const parts = [];
            for (const k of ['reason', 'state', 'field']) {
                if (d[k] !== undefined && d[k] !== null)
                    parts.push(k + ': ' + text(d[k]));
            }
            if (parts.length)
                s += ' — ' + parts.join(', ');
        } else if (d !== undefined && d !== null) {
            s += ' — ' + text(d);
        }
        return s;
    }

    function notice(message, kind) {
        const n = $('notice');
        clear(n);
        n.className = kind || 'info';
        n.hidden = !message;
        if (message)
            add(n, [message, ' ', el('button', {type: 'button', class: 'link',
                on: {click: () => notice(null)}}, 'dismiss')]);
    }

    function showLogin(message) {
        document.body.dataset.view = 'login';
        $('nav').hidden = true;
        $('logout').hidden = true;
        $('view').hidden = true;
        clear($('view'));
        notice(null);
        $('login').hidden = false;
        $('login-error').textContent = message || '';
        $('token').value = '';
        document.body.dataset.state = 'ready';
        $('token').focus();
    }

    function logout(message) {
        sessionStorage.removeItem(TOKEN_KEY);
        clear($('secret-slot'));
        appsCache = null;
        cursorStacks.clear();
        showLogin(message);
    }

    async function onLogin(ev) {
        ev.preventDefault();
        const t = $('token').value.trim();
        $('token').value = '';
        if (!t)
            return;
        $('login-error').textContent = '';
        $('login-submit').disabled = true;
        sessionStorage.setItem(TOKEN_KEY, t);
        try {
            /* apps.list is allowed to every role: a cheap check that the token works. The token
             * is checked before the method (docs/admin.md "Authentication, in order"), so any
             * answer but -32001/-32005 (or none) means it was accepted. */
            await loadApps(true);
        } catch (err) {
            if (err.code === -32001 || err.code === -32005 || !err.code) {
                sessionStorage.removeItem(TOKEN_KEY);
                let msg = describe(err);
                if (err.code === -32001)
                    msg = 'Token refused: unknown or revoked.';
                else if (err.code === -32005)
                    msg = 'Too many failed logins from this address: wait and try again.';
                showLogin(msg);
                return;
            }
        } finally {
            $('login-submit').disabled = false;
        }
        start();
    }

    /* ---------------------------------------------------------------- formatting */

    function text(v) {
        if (v === undefined || v === null)
            return '—';
        if (typeof v === 'boolean')
            return v ? 'yes' : 'no';
        if (typeof v === 'object')
            return JSON.stringify(v);
        return String(v);
    }

    /* A value as a node: nested objects and arrays as readable JSON text, never as markup. */
    function valueNode(v) {
        if (v !== null && typeof v === 'object') {
            const flat = JSON.stringify(v);
            if (flat.length <= 100)
                return el('code', null, flat);
            return el('pre', {class: 'json'}, JSON.stringify(v, null, 2));
        }
        return document.createTextNode(text(v));
    }

    function stateBadge(s) {
        return el('span', {class: 'state', dataset: {state: text(s)}}, text(s));
    }

    function pick(o, keys) {
        const k = pickKey(o, keys);
        return k === undefined ? undefined : o[k];
    }

    /* The first of keys that o has. */
    function pickKey(o, keys) {
        for (const k of keys) {
            if (o && o[k] !== undefined)
                return k;
        }
        return undefined;
    }

    /* A list answer {items, nextCursor}; tolerant of a bare array. */
    function itemsOf(r) {
        if (Array.isArray(r))
            return r;
        if (r && Array.isArray(r.items))
            return r.items;
        return [];
    }

    /* ---------------------------------------------------------------- tables and paging */

    /* columns: [{key | keys, label, render?(item)}]; a column no item has a value for is left out
     * (the API may name things differently than this list hopes; unknown fields still show on
     * the detail pages). With no usable column, every key of the first item is a column. */
    function table(items, columns, opts) {
        opts = opts || {};
        const keysOf = (c) => c.keys || [c.key];
        let cols = columns.filter((c) => c.render && c.always ||
            items.some((it) => pick(it, keysOf(c)) !== undefined));
        if (!cols.some((c) => !c.always) && items.length) {
            cols = Object.keys(items[0]).map((k) => ({key: k, label: k})).concat(
                columns.filter((c) => c.always));
        }
        const head = el('tr', null, cols.map((c) => el('th', {scope: 'col'}, c.label)));
        const body = items.map((it) => {
            const tr = el('tr', {class: opts.rowHref ? 'clickable' : null,
                dataset: opts.rowData ? opts.rowData(it) : null});
            for (const c of cols) {
                const v = pick(it, keysOf(c));
                const content = c.render ? c.render(it, v) : cellText(v);
                const cls = c.cls || (typeof v === 'string' && ISO_TIME.test(v) ? 'time' : null);
                tr.appendChild(el('td', {class: cls,
                    title: typeof v === 'string' && v.length > 24 ? v : null}, content));
            }
            if (opts.rowHref) {
                tr.addEventListener('click', (ev) => {
                    if (ev.target.closest('a, button, input, select, textarea'))
                        return;
                    location.hash = opts.rowHref(it);
                });
            }
            return tr;
        });
        if (!items.length)
            return el('p', {class: 'empty'}, opts.empty || 'Nothing to show.');
        return el('div', {class: 'table-wrap'},
            el('table', {class: opts.cls || null}, el('thead', null, head), el('tbody', null, body)));
    }

    function cellText(v) {
        if (v !== null && typeof v === 'object')
            return el('code', null, JSON.stringify(v));
        return text(v);
    }

    const ISO_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$/;

    /* The pages seen before the current one, per view: "Previous" pops from it. */
    const cursorStacks = new Map();

    function pager(view, query, nextCursor) {
        const stack = cursorStacks.get(view) || [];
        const cur = query.get('cursor') || '';
        const go = (cursor) => {
            const q = new URLSearchParams(query);
            if (cursor)
                q.set('cursor', cursor);
            else
                q.delete('cursor');
            navigate(view, q);
        };
        return el('div', {class: 'pager'},
            el('button', {type: 'button', id: 'page-first', disabled: !cur,
                on: {click: () => {
                    cursorStacks.set(view, []);
                    go('');
                }}}, '⇤ First'),
            el('button', {type: 'button', id: 'page-prev', disabled: !stack.length,
                on: {click: () => go(stack.pop())}}, '← Previous'),
            el('button', {type: 'button', id: 'page-next', disabled: !nextCursor,
                on: {click: () => {
                    stack.push(cur);
                    cursorStacks.set(view, stack);
                    go(nextCursor);
                }}}, 'Next →'));
    }

    function navigate(view, query, id) {
        let h = '#/' + view;
        if (id !== undefined)
            h += '/' + encodeURIComponent(id);
        const qs = query ? query.toString() : '';
        if (qs)
            h += '?' + qs;
        if (location.hash === h)
            route();
        else
            location.hash = h;
    }

    /* Params for a list method from the URL: only the filters that are set. */
    function listParams(query, names) {
        const p = {limit: PAGE_SIZE};
        for (const n of names) {
            const v = query.get(n);
            if (v)
                p[n] = v;
        }
        if (query.get('cursor'))
            p.cursor = query.get('cursor');
        return p;
    }

    /* A filter form whose submit navigates to the view with the filters in the URL. */
    function filterForm(view, query, fields) {
        const inputs = {};
        const form = el('form', {class: 'filters', id: view + '-filters'});
        for (const f of fields) {
            let input;
            if (f.options) {
                input = el('select', {name: f.name},
                    el('option', {value: ''}, f.any || 'any'),
                    f.options.map((o) => el('option', {value: o, selected: query.get(f.name) === o},
                        o)));
            } else {
                input = el('input', {type: 'text', name: f.name, value: query.get(f.name) || '',
                    placeholder: f.placeholder || ''});
            }
            if (f.options)
                input.value = query.get(f.name) || '';
            inputs[f.name] = input;
            form.appendChild(el('label', null, f.label + ' ', input));
        }
        form.appendChild(el('button', {type: 'submit'}, 'Apply'));
        form.addEventListener('submit', (ev) => {
            ev.preventDefault();
            const q = new URLSearchParams();
            for (const [n, input] of Object.entries(inputs)) {
                if (input.value.trim())
                    q.set(n, input.value.trim());
            }
            cursorStacks.set(view, []);
            navigate(view, q);
        });
        return form;
    }

    /* ---------------------------------------------------------------- apps (cached for selects) */

    let appsCache = null;

    async function loadApps(force) {
        if (appsCache && !force)
            return appsCache;
        const r = await rpc('apps.list', {limit: 500});
        appsCache = itemsOf(r).map((a) => pick(a, ['appId', 'id'])).filter((a) => a);
        return appsCache;
    }

    /* A select of the caller's apps (a text field when the list is unavailable). */
    async function appField(name, value, opts) {
        opts = opts || {};
        let apps = null;
        try {
            apps = await loadApps();
        } catch (e) {
            apps = null;
        }
        if (!apps || !apps.length)
            return el('input', {type: 'text', name: name, value: value || '', placeholder: 'app id',
                required: opts.required});
        const sel = el('select', {name: name, required: opts.required},
            opts.required ? null : el('option', {value: ''}, opts.any || 'all apps'),
            apps.map((a) => el('option', {value: a}, a)));
        if (value && apps.includes(value))
            sel.value = value;
        return sel;
    }

    /* Shows a secret once, with the way to dismiss it: it is never stored by the console. */
    function secretBox(title, secret, extra) {
        const box = el('div', {class: 'secret-box', role: 'alert', id: 'secret-box'},
            el('h3', null, title),
            el('p', null, 'Shown once: copy it into the forum plugin now. It cannot be shown ' +
                'again.'),
            el('code', {class: 'secret', id: 'new-secret'}, secret),
            extra ? el('p', null, extra) : null);
        box.appendChild(el('button', {type: 'button', on: {click: () => box.remove()}},
            'I have stored it — hide'));
        return box;
    }

    /* A secret is shown outside the view, so re-rendering the list (or failing to) cannot take
     * it away before the operator has copied it; it goes on "hide" or log out. */
    function showSecret(box) {
        add(clear($('secret-slot')), [box]);
        box.scrollIntoView({block: 'nearest'});
    }

    async function viewApps(query) {
        const r = await rpc('apps.list', listParams(query, []));
        const items = itemsOf(r);
        appsCache = null;
        const graceInput = el('input', {type: 'number', id: 'grace-seconds', min: '0',
            value: '86400', name: 'graceSeconds'});
        const rotate = async (appId) => {
            const grace = parseInt(graceInput.value, 10);
            if (!confirm('Rotate the secret of app "' + appId + '"?\n\nA new secret is issued ' +
                'now; the old one keeps working for ' + (isNaN(grace) ? 86400 : grace) +
                ' seconds (or until "Finish rotation").'))
                return;
            try {
                const p = {appId: appId};
                if (!isNaN(grace))
                    p.graceSeconds = grace;
                const res = await rpc('apps.rotate_secret', p);
                showSecret(secretBox('New secret of ' + appId, text(res.secret),
                    'The previous secret is accepted until ' + text(res.previousRetiresAt) +
                    '. Use "Finish rotation" once every client has the new one.'));
                await route();
                notice('Secret of ' + appId + ' rotated.', 'ok');
            } catch (e) {
                notice('Rotation of ' + appId + ' refused: ' + describe(e), 'error');
            }
        };
        const finish = async (appId) => {
            if (!confirm('Finish the rotation of app "' + appId + '"?\n\nThe previous secret ' +
                'stops working now: requests signed with it fail.'))
                return;
            try {
                const res = await rpc('apps.finish_rotation', {appId: appId});
                await route();
                notice('Rotation of ' + appId + ' finished' + (res && res.finishedAt ? ' at ' +
                    text(res.finishedAt) : '') + ': only the new secret is accepted.', 'ok');
            } catch (e) {
                notice('Finish rotation of ' + appId + ' refused: ' + describe(e), 'error');
            }
        };
        const createForm = el('form', {class: 'inline', id: 'app-create'},
            el('label', null, 'New app id ', el('input', {type: 'text', name: 'appId',
                required: true})),
            el('button', {type: 'submit'}, 'Create app'));
        createForm.addEventListener('submit', async (ev) => {
            ev.preventDefault();
            const appId = createForm.elements.appId.value.trim();
            if (!appId || !confirm('Create app "' + appId + '"?'))
                return;
            try {
                const res = await rpc('apps.create', {appId: appId});
                appsCache = null;
                showSecret(secretBox('Secret of the new app ' + appId, text(res.secret)));
                await route();
            } catch (e) {
                notice('apps.create refused: ' + describe(e), 'error');
            }
        });
        return el('div', null,
            el('h1', null, 'Apps'),
            table(items, [
                {key: 'appId', label: 'App'},
                {key: 'createdAt', label: 'Created'},
                {key: 'rotating', label: 'Rotating'},
                {key: 'rotatedAt', label: 'Last rotation'},
                {key: 'previousRetiresAt', label: 'Previous secret retires'},
                {label: 'Actions', always: true, render: (it) => {
                    const id = pick(it, ['appId', 'id']);
                    return [
                        el('button', {type: 'button', dataset: {action: 'rotate', app: id},
                            on: {click: () => rotate(id)}}, 'Rotate secret'), ' ',
                        /* apps.list says whether an old secret is still accepted */
                        it.rotating === false ? null :
                            [el('button', {type: 'button', dataset: {action: 'finish', app: id},
                                on: {click: () => finish(id)}}, 'Finish rotation'), ' '],
                        el('a', {href: '#/policies?appId=' + encodeURIComponent(id)}, 'policy'),
                        ' ',
                        el('a', {href: '#/webhooks?appId=' + encodeURIComponent(id)}, 'webhooks'),
                    ];
                }},
            ], {empty: 'No app in your scope.'}),
            pager('apps', query, r && r.nextCursor),
            el('p', null, el('label', null, 'Grace period for rotations (seconds) ', graceInput)),
            createForm);
    }

    /* ---------------------------------------------------------------- tips */

    const tipId = (t) => pick(t, ['tipId', 'id']);

    /* Opens one tip by its id or its invoice (tips.get takes either). */
    function tipFinder() {
        const input = el('input', {type: 'text', name: 'tip', placeholder: 'tip id or invoice',
            required: true});
        const form = el('form', {class: 'filters', id: 'tip-find'},
            el('label', null, 'Open tip ', input), el('button', {type: 'submit'}, 'Open'));
        form.addEventListener('submit', (ev) => {
            ev.preventDefault();
            const v = input.value.trim();
            if (!v)
                return;
            const uuid = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
            if (uuid.test(v))
                navigate('tips', null, v);
            else
                navigate('tips', new URLSearchParams({invoice: v}), 'invoice');
        });
        return form;
    }

    async function viewTips(query) {
        const r = await rpc('tips.list', listParams(query, ['appId', 'state', 'userId']));
        const items = itemsOf(r);
        return el('div', null,
            el('h1', null, 'Tips'),
            tipFinder(),
            filterForm('tips', query, [
                {name: 'appId', label: 'App', placeholder: 'all'},
                {name: 'state', label: 'State', options: TIP_STATES},
                {name: 'userId', label: 'User', placeholder: 'sender or recipient'},
            ]),
            table(items, [
                {keys: ['tipId', 'id'], label: 'Tip', cls: 'id', render: (it, v) =>
                    el('a', {href: '#/tips/' + encodeURIComponent(v)}, text(v))},
                {key: 'createdAt', label: 'Created'},
                {key: 'appId', label: 'App'},
                {key: 'state', label: 'State', render: (it, v) => stateBadge(v)},
                {key: 'amount', label: 'Amount', cls: 'num'},
                {key: 'asset', label: 'Asset'},
                {key: 'fromUserId', label: 'From'},
                {key: 'toUserId', label: 'To'},
                {key: 'postId', label: 'Post'},
                {key: 'message', label: 'Message', cls: 'message'},
                {key: 'failureReason', label: 'Failure'},
            ], {rowHref: (it) => '#/tips/' + encodeURIComponent(tipId(it)), cls: 'tips',
                rowData: (it) => ({id: text(tipId(it))}), empty: 'No tip matches.'}),
            pager('tips', query, r && r.nextCursor));
    }

    /* ---------------------------------------------------------------- details and timelines */

    /* Splits a *.get answer into the row's fields and its timeline, whether the row is the answer
     * itself or one member of it ({tip: {...}, timeline: [...]}). */
    function splitDetail(r, rowKey) {
        const fields = Object.assign({}, r || {});
        let timeline = fields.timeline || fields.events || [];
        delete fields.timeline;
        delete fields.events;
        const inner = fields[rowKey];
        if (inner && typeof inner === 'object' && !Array.isArray(inner)) {
            delete fields[rowKey];
            if (!timeline.length && Array.isArray(inner.timeline))
                timeline = inner.timeline;
            const flat = Object.assign({}, inner);
            delete flat.timeline;
            return {fields: Object.assign(flat, fields), timeline: timeline};
        }
        return {fields: fields, timeline: Array.isArray(timeline) ? timeline : []};
    }

    function fieldList(fields) {
        const dl = el('dl', {class: 'fields', id: 'detail-fields'});
        for (const [k, v] of Object.entries(fields)) {
            dl.appendChild(el('dt', null, k));
            dl.appendChild(el('dd', {dataset: {field: k}},
                k === 'state' ? stateBadge(v) : valueNode(v)));
        }
        return dl;
    }

    const EVENT_TIME = ['at', 'time', 'ts', 'createdAt', 'occurredAt'];
    /* A timeline item is {at, kind, …details} (docs/admin.md "Tips, withdrawals and timelines"). */
    const EVENT_KIND = ['kind', 'type', 'event', 'name'];

    function timelineNode(events) {
        if (!events.length)
            return el('p', {class: 'empty', id: 'timeline'}, 'No event recorded.');
        return el('ol', {class: 'timeline', id: 'timeline'}, events.map((ev) => {
            const rest = Object.assign({}, ev);
            const atKey = pickKey(ev, EVENT_TIME);
            const kindKey = pickKey(ev, EVENT_KIND);
            const at = ev[atKey];
            const kind = ev[kindKey];
            delete rest[atKey];
            delete rest[kindKey];
            const details = el('dl', {class: 'event-details'});
            for (const [k, v] of Object.entries(rest)) {
                details.appendChild(el('dt', null, k));
                details.appendChild(el('dd', null, valueNode(v)));
            }
            return el('li', {class: 'event', dataset: {kind: text(kind)}},
                el('span', {class: 'event-time'}, text(at)), ' ',
                el('strong', {class: 'event-kind'}, text(kind)),
                Object.keys(rest).length ? details : null);
        }));
    }

    async function viewTip(query, id) {
        const invoice = id === 'invoice' ? query.get('invoice') : null;
        const r = await rpc('tips.get', invoice ? {invoice: invoice} : {tipId: id});
        const d = splitDetail(r, 'tip');
        if (invoice)
            id = text(d.fields.tipId);
        return el('div', null,
            el('p', null, el('a', {href: '#/tips'}, '← Tips')),
            el('h1', null, 'Tip ', el('code', null, id)),
            fieldList(d.fields),
            el('h2', null, 'Timeline (', String(d.timeline.length), ' events, oldest first)'),
            timelineNode(d.timeline));
    }

    /* ---------------------------------------------------------------- withdrawals */

    const withdrawalId = (w) => pick(w, ['id', 'withdrawalId']);

    async function viewWithdrawals(query) {
        const r = await rpc('withdrawals.list', listParams(query, ['appId', 'state', 'userId']));
        const items = itemsOf(r);
        return el('div', null,
            el('h1', null, 'Withdrawals'),
            filterForm('withdrawals', query, [
                {name: 'appId', label: 'App', placeholder: 'all'},
                {name: 'state', label: 'State', options: WITHDRAWAL_STATES},
                {name: 'userId', label: 'User', placeholder: 'user id'},
            ]),
            table(items, [
                {keys: ['id', 'withdrawalId'], label: 'Withdrawal', cls: 'id', render: (it, v) =>
                    el('a', {href: '#/withdrawals/' + encodeURIComponent(v)}, text(v))},
                {key: 'createdAt', label: 'Created'},
                {key: 'appId', label: 'App'},
                {key: 'userId', label: 'User'},
                {key: 'state', label: 'State', render: (it, v) => stateBadge(v)},
                {key: 'amount', label: 'Amount', cls: 'num'},
                {key: 'asset', label: 'Asset'},
                {keys: ['failureReason', 'errorCode', 'reason'], label: 'Failure'},
                {key: 'lastError', label: 'Last error', cls: 'message'},
            ], {rowHref: (it) => '#/withdrawals/' + encodeURIComponent(withdrawalId(it)),
                cls: 'withdrawals', rowData: (it) => ({id: text(withdrawalId(it))}),
                empty: 'No withdrawal matches.'}),
            pager('withdrawals', query, r && r.nextCursor));
    }

    async function viewWithdrawal(query, id) {
        const r = await rpc('withdrawals.get', {id: id});
        const d = splitDetail(r, 'withdrawal');
        const state = d.fields.state;
        const actions = el('div', {class: 'actions', id: 'withdrawal-actions'});
        if (CANCELLABLE.includes(state)) {
            actions.appendChild(el('button', {type: 'button', id: 'cancel-withdrawal',
                class: 'danger', on: {click: () => cancelWithdrawal(id, d.fields)}},
            'Cancel withdrawal'));
        } else {
            actions.appendChild(el('p', {class: 'muted', id: 'cancel-refusal'},
                'Cannot cancel: the withdrawal is ' + text(state) + ' — ' +
                (NOT_CANCELLABLE_REASON[state] || 'only PENDING, RETRY_PENDING before any ' +
                    'payment attempt and LIQUIDITY_PENDING can be cancelled') + '.'));
        }
        return el('div', null,
            el('p', null, el('a', {href: '#/withdrawals'}, '← Withdrawals')),
            el('h1', null, 'Withdrawal ', el('code', null, id)),
            actions,
            fieldList(d.fields),
            el('h2', null, 'Timeline (', String(d.timeline.length), ' events, oldest first)'),
            timelineNode(d.timeline));
    }

    async function cancelWithdrawal(id, f) {
        if (!confirm('Cancel withdrawal ' + id + ' of ' + text(f.amount) + ' ' + text(f.asset) +
            ' for user ' + text(f.userId) + '?\n\nIt becomes FAILED (CANCELLED_BY_ADMIN) and ' +
            'the amount is refunded to the user. This cannot be undone.'))
            return;
        try {
            const r = await rpc('withdrawals.cancel', {id: id});
            await route();
            const st = r && typeof r === 'object' ? pick(r, ['state']) : undefined;
            const why = r && typeof r === 'object' ?
                pick(r, ['failureReason', 'errorCode', 'reason']) : undefined;
            notice('Withdrawal ' + id + ' cancelled' + (st ? ': now ' + text(st) : '') +
                (why ? ' (' + text(why) + ')' : '') + '.', 'ok');
        } catch (e) {
            await route();
            notice('Cancel refused: ' + describe(e), 'error');
        }
    }

    /* ---------------------------------------------------------------- policies */

    const POLICY_FIELDS = [
        {name: 'min', label: 'Minimum', kind: 'amount'},
        {name: 'maxPerRequest', label: 'Max per request', kind: 'amount'},
        {name: 'userDaily', label: 'Per user per day', kind: 'amount'},
        {name: 'appDaily', label: 'Per app per day', kind: 'amount'},
        {name: 'cooldownSeconds', label: 'Cooldown (s)', kind: 'int'},
        {name: 'maxFee', label: 'Max fee', kind: 'amount'},
    ];

    /* policy.get's answer as [{asset, ...}] whether it lists assets or maps them. */
    function policyRows(r) {
        const list = pick(r, ['policies', 'assets', 'items']) || r;
        if (Array.isArray(list))
            return list;
        if (list && typeof list === 'object') {
            return Object.entries(list).filter(([, v]) => v && typeof v === 'object')
                .map(([asset, v]) => Object.assign({asset: asset}, v));
        }
        return [];
    }

    /* One asset's policy as a form. policy.set is partial: only the fields changed here are
     * sent (a field left empty keeps its value; there is no "no limit", every limit has a value). */
    function policyForm(appId, row) {
        const asset = row.asset;
        const form = el('form', {class: 'policy', dataset: {asset: text(asset)}});
        const allowed = el('input', {type: 'checkbox', name: 'allowed',
            checked: row.allowed !== false});
        const shown = (f) => row[f.name] !== undefined && row[f.name] !== null ?
            String(row[f.name]) : '';
        add(form, [
            el('h3', null, text(asset), ' ', el('span', {class: 'muted'},
                row.source === 'default' ? '(hub defaults: no policy stored for this app yet)' :
                    row.updatedAt ? '(changed ' + text(row.updatedAt) + ')' : null)),
            el('label', null, allowed, ' allowed'),
            POLICY_FIELDS.map((f) => el('label', null, f.label + ' ',
                el('input', {type: 'text', name: f.name, value: shown(f)}))),
            el('button', {type: 'submit'}, 'Save ' + text(asset)),
        ]);
        form.addEventListener('submit', async (ev) => {
            ev.preventDefault();
            const p = {appId: appId, asset: asset};
            if (allowed.checked !== (row.allowed !== false))
                p.allowed = allowed.checked;
            for (const f of POLICY_FIELDS) {
                const v = form.elements[f.name].value.trim();
                if (v === '' || v === shown(f))
                    continue;
                p[f.name] = f.kind === 'int' && /^[0-9]+$/.test(v) ? parseInt(v, 10) : v;
            }
            if (Object.keys(p).length === 2) {
                notice('Nothing changed in the ' + text(asset) + ' policy.', 'info');
                return;
            }
            if (!confirm('Change the ' + text(asset) + ' withdrawal policy of app "' + appId +
                '"?\n\n' + JSON.stringify(p, null, 1)))
                return;
            try {
                await rpc('policy.set', p);
                await route();
                notice('Policy of ' + appId + ' / ' + text(asset) + ' saved.', 'ok');
            } catch (e) {
                notice('policy.set refused: ' + describe(e), 'error');
            }
        });
        return form;
    }

    async function viewPolicies(query) {
        const appId = query.get('appId') || '';
        const picker = el('form', {class: 'filters', id: 'policies-filters'},
            el('label', null, 'App ', await appField('appId', appId, {required: true})),
            el('button', {type: 'submit'}, 'Show'));
        picker.addEventListener('submit', (ev) => {
            ev.preventDefault();
            navigate('policies', new URLSearchParams({appId: picker.elements.appId.value}));
        });
        const out = el('div', null, el('h1', null, 'Policies'), picker);
        if (!appId)
            return add(out, [el('p', {class: 'muted'}, 'Choose an app.')]);
        const r = await rpc('policy.get', {appId: appId});
        const rows = policyRows(r);
        add(out, [el('h2', null, 'App ', el('code', null, appId)),
            rows.length ? rows.map((row) => policyForm(appId, row)) :
                el('p', {class: 'empty'}, 'No asset enabled.')]);
        return out;
    }

    /* ---------------------------------------------------------------- ledger */

    /* A summary object: arrays of objects as tables, nested objects as sections, scalars as
     * fields. Keeps up with whatever ledger.summary and jobs.state add. */
    function summaryNode(v, depth) {
        depth = depth || 0;
        if (Array.isArray(v)) {
            if (v.every((x) => x && typeof x === 'object' && !Array.isArray(x)))
                return table(v, [], {cls: 'summary'});
            return el('code', null, JSON.stringify(v));
        }
        if (v && typeof v === 'object') {
            const scalars = el('dl', {class: 'fields'});
            const nested = [];
            for (const [k, x] of Object.entries(v)) {
                if (x && typeof x === 'object') {
                    nested.push(el('section', {class: 'sub'},
                        el(depth ? 'h4' : 'h3', null, k), summaryNode(x, depth + 1)));
                } else {
                    scalars.appendChild(el('dt', null, k));
                    scalars.appendChild(el('dd', null, text(x)));
                }
            }
            return el('div', null, scalars.childNodes.length ? scalars : null, nested);
        }
        return document.createTextNode(text(v));
    }

    async function viewLedger(query) {
        const appId = query.get('appId') || '';
        const picker = el('form', {class: 'filters', id: 'ledger-filters'},
            el('label', null, 'App ', await appField('appId', appId, {})),
            el('button', {type: 'submit'}, 'Show'));
        picker.addEventListener('submit', (ev) => {
            ev.preventDefault();
            const v = picker.elements.appId.value;
            navigate('ledger', new URLSearchParams(v ? {appId: v} : {}));
        });
        const r = await rpc('ledger.summary', appId ? {appId: appId} : {});
        return el('div', null, el('h1', null, 'Ledger summary'), picker,
            el('div', {id: 'ledger-summary'}, summaryNode(r)));
    }

    /* ---------------------------------------------------------------- alerts */

    async function viewAlerts(query) {
        const state = query.get('state') || 'open';
        const p = listParams(query, []);
        p.state = state;
        const r = await rpc('alerts.list', p);
        const ack = async (id) => {
            try {
                await rpc('alerts.ack', {id: id});
                await route();
                notice('Alert ' + id + ' acknowledged.', 'ok');
            } catch (e) {
                notice('alerts.ack refused: ' + describe(e), 'error');
            }
        };
        const picker = el('form', {class: 'filters', id: 'alerts-filters'},
            el('label', null, 'Show ', el('select', {name: 'state'},
                ['open', 'cleared', 'all'].map((s) => el('option', {value: s,
                    selected: s === state}, s)))),
            el('button', {type: 'submit'}, 'Apply'));
        picker.addEventListener('submit', (ev) => {
            ev.preventDefault();
            cursorStacks.set('alerts', []);
            navigate('alerts', new URLSearchParams({state: picker.elements.state.value}));
        });
        return el('div', null, el('h1', null, 'Alerts'), picker,
            table(itemsOf(r), [
                {key: 'id', label: 'Id'},
                {keys: ['raisedAt', 'createdAt'], label: 'Raised'},
                {key: 'kind', label: 'Kind'},
                {key: 'subject', label: 'Subject'},
                {key: 'appId', label: 'App'},
                {key: 'state', label: 'State', render: (it, v) => stateBadge(v)},
                {key: 'evidence', label: 'Evidence'},
                {key: 'clearedAt', label: 'Cleared'},
                {key: 'clearEvidence', label: 'Clear evidence'},
                {key: 'ackedBy', label: 'Acked by'},
                {key: 'ackedAt', label: 'Acked'},
                {label: '', always: true, render: (it) =>
                    it.ackedAt ? null :
                        el('button', {type: 'button', dataset: {action: 'ack'},
                            on: {click: () => ack(it.id)}}, 'Acknowledge')},
            ], {empty: 'No ' + (state === 'all' ? '' : state + ' ') + 'alert.'}),
            pager('alerts', query, r && r.nextCursor));
    }

    /* ---------------------------------------------------------------- jobs */

    async function viewJobs() {
        const jobs = itemsOf(await rpc('jobs.state'));
        const pause = async (job, reasonInput) => {
            const reason = reasonInput.value.trim();
            if (!reason) {
                notice('Give a reason to pause ' + job + '.', 'error');
                reasonInput.focus();
                return;
            }
            if (!confirm('Pause ' + job + ' on every daemon?\n\nReason: ' + reason))
                return;
            try {
                await rpc('jobs.pause', {job: job, reason: reason});
                await route();
                notice(job + ' paused.', 'ok');
            } catch (e) {
                notice('jobs.pause refused: ' + describe(e), 'error');
            }
        };
        const resume = async (job) => {
            if (!confirm('Resume ' + job + '?'))
                return;
            try {
                await rpc('jobs.resume', {job: job});
                await route();
                notice(job + ' resumed.', 'ok');
            } catch (e) {
                notice('jobs.resume refused: ' + describe(e), 'error');
            }
        };
        return el('div', null, el('h1', null, 'Jobs'),
            table(jobs, [
                {keys: ['job', 'name'], label: 'Job'},
                {key: 'paused', label: 'Paused'},
                {key: 'reason', label: 'Reason'},
                {key: 'changedBy', label: 'Switched by'},
                {key: 'changedAt', label: 'Switched'},
                {key: 'lastRunAt', label: 'Last run'},
                {key: 'backlog', label: 'Backlog', cls: 'num'},
                {key: 'lagSeconds', label: 'Lag (s)', cls: 'num'},
                {label: '', always: true, render: (it) => {
                    const job = pick(it, ['job', 'name']);
                    if (it.paused) {
                        return el('button', {type: 'button', dataset: {action: 'resume', job: job},
                            on: {click: () => resume(job)}}, 'Resume');
                    }
                    const reason = el('input', {type: 'text', placeholder: 'reason',
                        name: 'reason'});
                    return [reason, ' ', el('button', {type: 'button',
                        dataset: {action: 'pause', job: job},
                        on: {click: () => pause(job, reason)}}, 'Pause')];
                }},
            ], {empty: 'No job reported (' + JOBS.join(', ') + ').'}));
    }

    /* ---------------------------------------------------------------- webhooks */

    async function viewWebhooks(query) {
        const appId = query.get('appId') || '';
        const picker = el('form', {class: 'filters', id: 'webhooks-filters'},
            el('label', null, 'App ', await appField('appId', appId, {required: true})),
            el('button', {type: 'submit'}, 'Show deliveries'));
        picker.addEventListener('submit', (ev) => {
            ev.preventDefault();
            cursorStacks.set('webhooks', []);
            navigate('webhooks', new URLSearchParams({appId: picker.elements.appId.value}));
        });
        const out = el('div', null, el('h1', null, 'Webhook deliveries'), picker);
        if (!appId)
            return add(out, [el('p', {class: 'muted'}, 'Choose an app.')]);
        const r = await rpc('webhooks.deliveries', listParams(query, ['appId']));
        const redeliver = async (id) => {
            if (!confirm('Send delivery ' + id + ' again?'))
                return;
            try {
                await rpc('webhooks.redeliver', {deliveryId: id});
                await route();
                notice('Delivery ' + id + ' queued again.', 'ok');
            } catch (e) {
                notice('webhooks.redeliver refused: ' + describe(e), 'error');
            }
        };
        return add(out, [
            table(itemsOf(r), [
                {keys: ['deliveryId', 'id'], label: 'Delivery'},
                {key: 'createdAt', label: 'Created'},
                {key: 'type', label: 'Event'},
                {key: 'subjectId', label: 'About', render: (it, v) => {
                    const kind = it.subjectKind;
                    if (kind === 'tip' || kind === 'withdrawal')
                        return el('a', {href: '#/' + kind + 's/' + encodeURIComponent(v)},
                            kind + ' ' + text(v));
                    return text(kind) + ' ' + text(v);
                }},
                {key: 'state', label: 'State', render: (it, v) => stateBadge(v)},
                {key: 'attempts', label: 'Tries', cls: 'num'},
                {key: 'lastStatus', label: 'Last status'},
                {key: 'lastError', label: 'Last error', cls: 'message'},
                {key: 'nextAttemptAt', label: 'Next try'},
                {key: 'deliveredAt', label: 'Delivered'},
                {key: 'tries', label: 'Last tries'},
                {label: '', always: true, render: (it) => {
                    const id = pick(it, ['deliveryId', 'id']);
                    return el('button', {type: 'button', dataset: {action: 'redeliver'},
                        on: {click: () => redeliver(id)}}, 'Redeliver');
                }},
            ], {empty: 'No delivery for this app.'}),
            pager('webhooks', query, r && r.nextCursor),
        ]);
    }

    /* ---------------------------------------------------------------- audit */

    async function viewAudit(query) {
        const r = await rpc('audit.list', listParams(query, []));
        return el('div', null, el('h1', null, 'Audit log'),
            table(itemsOf(r), [
                {keys: ['at', 'createdAt', 'time'], label: 'When'},
                {keys: ['actor', 'adminName', 'who'], label: 'Who'},
                {keys: ['method', 'action', 'what'], label: 'Call'},
                {keys: ['appId'], label: 'App'},
                {keys: ['subject', 'target'], label: 'Subject'},
                {key: 'params', label: 'Params'},
                {key: 'before', label: 'Before'},
                {key: 'after', label: 'After'},
            ], {cls: 'audit', empty: 'No audit row.'}),
            pager('audit', query, r && r.nextCursor));
    }

    /* ---------------------------------------------------------------- routing */

    const VIEWS = {
        apps: {list: viewApps},
        tips: {list: viewTips, detail: viewTip},
        withdrawals: {list: viewWithdrawals, detail: viewWithdrawal},
        policies: {list: viewPolicies},
        ledger: {list: viewLedger},
        alerts: {list: viewAlerts},
        jobs: {list: viewJobs},
        webhooks: {list: viewWebhooks},
        audit: {list: viewAudit},
    };

    let renderGen = 0;

    function parseHash() {
        const h = location.hash.replace(/^#\/?/, '');
        const qi = h.indexOf('?');
        const path = qi < 0 ? h : h.slice(0, qi);
        const query = new URLSearchParams(qi < 0 ? '' : h.slice(qi + 1));
        const parts = path.split('/');
        let name = parts[0];
        let id;
        try {
            id = parts.length > 1 && parts[1] !== '' ? decodeURIComponent(parts[1]) : undefined;
        } catch (e) {
            id = undefined;
        }
        if (!VIEWS[name])
            name = 'apps';
        return {name: name, id: id, query: query};
    }

    async function route() {
        if (!token())
            return showLogin();
        const gen = ++renderGen;
        const r = parseHash();
        const kind = r.id !== undefined && VIEWS[r.name].detail ? 'detail' : 'list';
        const viewName = r.name + (kind === 'detail' ? '-detail' : '');
        document.body.dataset.view = viewName;
        document.body.dataset.state = 'loading';
        for (const a of document.querySelectorAll('#nav a'))
            a.classList.toggle('active', a.dataset.nav === r.name);
        const view = $('view');
        view.setAttribute('aria-busy', 'true');
        let node;
        try {
            node = await VIEWS[r.name][kind](r.query, r.id);
        } catch (e) {
            if (!token())
                return undefined;
            node = el('div', null, el('h1', null, r.name),
                el('p', {class: 'error', id: 'view-error'}, describe(e)));
        }
        if (gen !== renderGen)
            return undefined; /* a later navigation owns the page */
        clear(view).appendChild(node);
        view.removeAttribute('aria-busy');
        document.body.dataset.state = 'ready';
        performance.mark('console:ready:' + viewName);
        return undefined;
    }

    function start() {
        $('login').hidden = true;
        $('nav').hidden = false;
        $('logout').hidden = false;
        $('view').hidden = false;
        notice(null);
        route();
    }

    function init() {
        $('login-form').addEventListener('submit', onLogin);
        $('logout').addEventListener('click', () => logout('Logged out.'));
        window.addEventListener('hashchange', () => {
            if (token()) {
                notice(null);
                route();
            }
        });
        if (token())
            start();
        else
            showLogin();
    }

    init();
})();
