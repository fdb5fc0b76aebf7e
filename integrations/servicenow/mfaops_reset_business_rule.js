/*
 * mfaops: send an approved "Reset MFA" request to mfaops.
 *
 * Business Rule on sc_req_item (or incident), "after" update, condition:
 *   current.approval.changesTo('approved') && current.cat_item.name == 'Reset MFA'
 * (for incidents: current.category == 'mfa_reset' && current.state.changesTo(2)).
 *
 * System properties (sys_properties):
 *   x_mfaops.endpoint      https://<function-app>.azurewebsites.net/api/itsm/servicenow
 *   x_mfaops.function_key  the function key of servicenow_webhook (password-type property)
 *   x_mfaops.hmac_key_b64  the webhook secret, base64-encoded (password-type property); mfaops holds the same
 *                          secret (not base64) in SERVICENOW_WEBHOOK_SECRET
 */
(function executeRule(current, previous /*null when async*/) {
    var endpoint = gs.getProperty('x_mfaops.endpoint');
    var functionKey = gs.getProperty('x_mfaops.function_key');
    var keyB64 = gs.getProperty('x_mfaops.hmac_key_b64');
    if (!endpoint || !functionKey || !keyB64) {
        gs.error('mfaops: x_mfaops.* properties are not set; MFA reset not sent for ' + current.number);
        return;
    }

    var user = current.getTableName() == 'incident' ? current.caller_id : current.requested_for;
    var body = JSON.stringify({
        table: current.getTableName(),
        sys_id: current.getUniqueValue(),
        number: current.getValue('number'),
        action: 'reset_mfa',
        user: user.email.toString(),                 // the user's UPN; use user.user_name where that is the UPN
        revoke_sessions: true,
        issue_tap: true,
        requested_by: gs.getUser().getEmail()
    });

    // Signature: base64 HMAC-SHA256 over "<unix seconds>.<raw body>".
    var timestamp = Math.floor(new GlideDateTime().getNumericValue() / 1000).toString();
    var mac = new GlideCertificateEncryption().generateMac(keyB64, 'HmacSHA256', timestamp + '.' + body);

    var request = new sn_ws.RESTMessageV2();
    request.setEndpoint(endpoint);
    request.setHttpMethod('POST');
    request.setRequestHeader('Content-Type', 'application/json');
    request.setRequestHeader('x-functions-key', functionKey);
    request.setRequestHeader('X-Mfaops-Timestamp', timestamp);
    request.setRequestHeader('X-Mfaops-Signature', 'v1=' + mac);
    request.setRequestBody(body);
    request.setHttpTimeout(30000);

    var response = request.execute();
    var status = response.getStatusCode();
    if (status == 202 || status == 200) {
        var job = JSON.parse(response.getBody());
        current.work_notes = 'mfaops accepted the MFA reset as job ' + job.job_id + ' (status ' +
            (job.status || job.state) + ').';
    } else {
        // 4xx: the request itself is wrong (see the problem body); 503: mfaops recorded it, send again later.
        current.work_notes = 'mfaops refused the MFA reset request (HTTP ' + status + '): ' + response.getBody();
    }
    current.setWorkflow(false);
    current.update();
})(current, previous);
