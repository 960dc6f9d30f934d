"""The route x role authorisation matrix (SECURITY 11 and 12, DESIGN 7), read by test_access_matrix.py.

One row per (endpoint, method) in `app.url_map` except `static`; a route without a row fails the build, so
whoever adds a route must decide here who may use it. Each row gives the expected status for these actors:

- anon         nobody signed in (URL ids are therapist T1's of practice A)
- client       client C1 of T1, with C1's own ids
- client_x     C1 with the ids of another therapist's client in A, then of a client in practice B
- therapist    T1 with T1's own ids (T1's client, appointment, alert, invite; T1's own passkey)
- therapist_x  T1 with therapist T2's ids (same practice), then with a practice-B therapist's ids
- admin        practice A's admin with A's ids
- admin_x      practice B's admin with practice A's ids

Anonymous HTML pages redirect to sign-in (302), anonymous /api/ calls answer 401. Another tenant's ids give
404 (the row is not yours, and we do not confirm it exists) or, where the id is only in a JSON body, the
status the API documents (403 for someone else's appointment, 422 for a client not on the form's list).
`x` columns of routes that take no tenant id repeat the plain role's answer: the actor is the same.
"""

ROLES = ("anon", "client", "client_x", "therapist", "therapist_x", "admin", "admin_x")

# fmt: off
MATRIX: dict[tuple[str, str], tuple[int, ...]] = {
    #                                          anon client cl_x  ther  th_x admin ad_x
    # Public shell, PWA and health: the same for everyone.
    ("core.index", "GET"):                     (200, 302, 302, 302, 302, 302, 302),
    ("core.manifest", "GET"):                  (200, 200, 200, 200, 200, 200, 200),
    ("core.service_worker", "GET"):            (200, 200, 200, 200, 200, 200, 200),
    ("core.offline", "GET"):                   (200, 200, 200, 200, 200, 200, 200),
    ("core.health", "GET"):                    (200, 200, 200, 200, 200, 200, 200),
    ("checkins.check_in", "GET"):              (200, 200, 200, 200, 200, 200, 200),
    ("reminders.push_key", "GET"):             (200, 200, 200, 200, 200, 200, 200),
    # Sign-in and invites (public; the token is the authorisation).
    ("auth.sign_in", "GET"):                   (200, 302, 302, 302, 302, 302, 302),
    ("auth.sign_in_options", "POST"):          (200, 200, 200, 200, 200, 200, 200),
    ("auth.sign_in_verify", "POST"):           (400, 400, 400, 400, 400, 400, 400),
    # The invite's creator cannot open it in their own signed-in browser (issue 9.3): 403.
    ("auth.invite_landing", "GET"):            (200, 200, 200, 403, 200, 403, 200),
    ("auth.invite_options", "POST"):           (200, 200, 200, 403, 200, 403, 200),
    ("auth.invite_verify", "POST"):            (400, 400, 400, 403, 400, 403, 400),
    ("auth.session_info", "GET"):              (401, 200, 200, 200, 200, 200, 200),
    ("auth.sign_out", "POST"):                 (302, 302, 302, 302, 302, 302, 302),
    # Account: every signed-in role, own rows only.
    ("auth.account", "GET"):                   (302, 200, 200, 200, 200, 200, 200),
    ("auth.rename_passkey", "POST"):           (302, 302, 404, 302, 404, 302, 404),
    ("auth.remove_passkey", "POST"):           (302, 409, 404, 409, 404, 409, 404),
    ("auth.add_passkey_options", "POST"):      (401, 200, 200, 200, 200, 200, 200),
    ("auth.add_passkey_verify", "POST"):       (401, 400, 400, 400, 400, 400, 400),
    ("auth.set_time_zone", "POST"):            (401, 200, 200, 200, 200, 200, 200),
    ("auth.set_language", "POST"):             (302, 302, 302, 302, 302, 302, 302),
    ("auth.sign_out_everywhere", "POST"):      (302, 302, 302, 302, 302, 302, 302),
    ("auth.confirm_recovery", "POST"):         (302, 403, 403, 403, 403, 403, 403),
    # Recovery codes: a lost device's public page and ceremony (the code is the authorisation; none is
    # valid here), the hold page and unlocking (a session no recovery link made has nothing to unlock).
    ("auth.recover", "GET"):                   (200, 200, 200, 200, 200, 200, 200),
    ("auth.recover_options", "POST"):          (400, 400, 400, 400, 400, 400, 400),
    ("auth.recover_verify", "POST"):           (400, 400, 400, 400, 400, 400, 400),
    ("auth.hold", "GET"):                      (302, 302, 302, 302, 302, 302, 302),
    ("auth.unlock_with_code", "POST"):         (302, 302, 302, 302, 302, 302, 302),
    ("auth.make_recovery_code", "POST"):       (302, 200, 200, 200, 200, 200, 200),
    ("auth.recovery_code_later", "POST"):      (302, 302, 302, 302, 302, 302, 302),
    ("privacy.export", "GET"):                 (302, 200, 200, 200, 200, 200, 200),
    ("privacy.delete_account", "POST"):        (302, 200, 200, 403, 403, 403, 403),
    # Client pages and APIs.
    ("checkins.home", "GET"):                  (302, 200, 200, 403, 403, 403, 403),
    ("checkins.history", "GET"):               (302, 200, 200, 403, 403, 403, 403),
    ("checkins.submit", "POST"):               (401, 201, 403, 403, 403, 403, 403),
    ("checkins.owner", "GET"):                 (401, 200, 200, 200, 200, 200, 200),
    ("checkins.check_in_without_script", "POST"): (400, 400, 400, 400, 400, 400, 400),
    ("reminders.settings", "GET"):             (302, 302, 302, 403, 403, 403, 403),
    ("reminders.save_settings", "POST"):       (302, 302, 302, 403, 403, 403, 403),
    ("reminders.subscribe", "POST"):           (401, 201, 201, 403, 403, 403, 403),
    ("reminders.unsubscribe", "DELETE"):       (401, 200, 200, 403, 403, 403, 403),
    # Therapist pages.
    ("dashboard.index", "GET"):                (302, 403, 403, 200, 200, 403, 403),
    ("dashboard.client", "GET"):               (302, 403, 403, 200, 404, 403, 403),
    ("dashboard.talked_about", "POST"):        (302, 403, 403, 302, 404, 403, 403),
    ("dashboard.export_check_ins", "POST"):    (302, 403, 403, 200, 200, 403, 403),
    ("dashboard.export_aggregates", "POST"):   (302, 403, 403, 200, 200, 403, 403),
    ("appointments.index", "GET"):             (302, 403, 403, 200, 200, 403, 403),
    ("appointments.create", "POST"):           (302, 403, 403, 302, 422, 403, 403),
    ("appointments.edit", "GET"):              (302, 403, 403, 200, 404, 403, 403),
    ("appointments.edit", "POST"):             (302, 403, 403, 302, 404, 403, 403),
    ("appointments.cancel", "POST"):           (302, 403, 403, 302, 404, 403, 403),
    # Staff invites: therapists invite clients, admins invite staff.
    ("auth.invite_people", "GET"):             (302, 403, 403, 200, 200, 200, 200),
    ("auth.invite_people", "POST"):            (302, 403, 403, 200, 200, 200, 200),
    ("auth.revoke_invite", "POST"):            (302, 403, 403, 302, 404, 302, 404),
    ("auth.reinvite", "POST"):                 (302, 403, 403, 200, 404, 200, 404),
    # Practice admin.
    ("dashboard.admin", "GET"):                (302, 403, 403, 403, 403, 200, 200),
    ("dashboard.therapists", "GET"):           (302, 403, 403, 403, 403, 200, 200),
    ("dashboard.settings", "GET"):             (302, 403, 403, 403, 403, 200, 200),
    ("dashboard.settings", "POST"):            (302, 403, 403, 403, 403, 302, 302),
    ("dashboard.audit_log", "GET"):            (302, 403, 403, 403, 403, 200, 200),
    # Last: the admin's own case deactivates therapist T2, whom earlier rows still use.
    ("dashboard.deactivate", "POST"):          (302, 403, 403, 403, 403, 302, 404),
}
# fmt: on
