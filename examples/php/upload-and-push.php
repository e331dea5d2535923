<?php
// Upload a package of accounts to TPNS (or tpns-mock) and push to it, signed with Tencent's
// HMAC scheme. PHP 7.4+ with the curl extension, no packages:
//
//   TPNS_BASE_URL=http://localhost:8080 TPNS_ACCESS_ID=1500000001 \
//   TPNS_SECRET_KEY=tpns-mock-secret-key php examples/php/upload-and-push.php accounts.zip
//
// The Sign covers the exact body bytes, and curl builds a CURLFile form (and its boundary)
// internally, where they cannot be signed. So the multipart body is written here, by hand, as a
// string; that string is signed and sent as it is. It then waits for the push's record to reach
// PUSH_FINISHED (TPNS_PUSH_WAIT_SECONDS, default 600; 0 skips the wait). For HTTPS with the
// mock's CA, run `php -d curl.cainfo=ca.pem ...` (or set curl.cainfo in php.ini).

// Tencent's Sign: Base64 of the lowercase hex HMAC-SHA256 of TimeStamp + AccessId + body.
function tpns_sign(string $secretKey, string $timestamp, string $accessId, string $body): string
{
    return base64_encode(hash_hmac('sha256', $timestamp . $accessId . $body, $secretKey));
}

// Send a signed body; the JSON answer as an array (any keys: only the ones read matter).
function tpns_post(string $path, string $contentType, string $body): array
{
    $accessId = getenv('TPNS_ACCESS_ID');
    $timestamp = (string) time();
    $url = rtrim(getenv('TPNS_BASE_URL') ?: 'http://localhost:8080', '/') . $path;
    $curl = curl_init($url);
    curl_setopt_array($curl, [
        CURLOPT_POST => true,
        CURLOPT_POSTFIELDS => $body, // a string: sent byte for byte
        CURLOPT_RETURNTRANSFER => true,
        CURLOPT_TIMEOUT => 60,
        CURLOPT_HTTPHEADER => [
            'Content-Type: ' . $contentType,
            'AccessId: ' . $accessId,
            'TimeStamp: ' . $timestamp,
            'Sign: ' . tpns_sign(getenv('TPNS_SECRET_KEY'), $timestamp, $accessId, $body),
            'Expect:', // no "100 Continue" round trip
        ],
    ]);
    $text = curl_exec($curl);
    if ($text === false) {
        throw new RuntimeException("$url: " . curl_error($curl));
    }
    $status = curl_getinfo($curl, CURLINFO_RESPONSE_CODE);
    curl_close($curl);
    $answer = json_decode($text, true);
    if (!is_array($answer)) {
        throw new RuntimeException("$path answered HTTP $status, not JSON: " . substr($text, 0, 200));
    }
    return $answer;
}

// A JSON request, as every TPNS call but the upload is sent.
function tpns_post_json(string $path, array $payload): array
{
    return tpns_post($path, 'application/json', json_encode($payload, JSON_UNESCAPED_UNICODE));
}

function upload_package(string $zipPath): int
{
    $content = file_get_contents($zipPath);
    if ($content === false) {
        throw new RuntimeException("cannot read $zipPath");
    }
    $boundary = 'tpns' . bin2hex(random_bytes(12));
    $body = "--$boundary\r\n"
        . 'Content-Disposition: form-data; name="file"; filename="' . basename($zipPath) . "\"\r\n"
        . "Content-Type: application/zip\r\n\r\n"
        . $content . "\r\n"
        . "--$boundary--\r\n";
    $answer = tpns_post('/v3/push/package/upload', "multipart/form-data; boundary=$boundary", $body);
    if (($answer['retCode'] ?? null) !== 0) {
        throw new RuntimeException('upload refused: retCode ' . json_encode($answer['retCode'] ?? null)
            . ': ' . ($answer['errMsg'] ?? ''));
    }
    return $answer['uploadId'];
}

function push_to_package(int $uploadId): string
{
    $answer = tpns_post_json('/v3/push/app', [
        'audience_type' => 'package_account_push',
        'upload_id' => $uploadId,
        'message_type' => 'notify',
        'message' => ['title' => 'Hello', 'content' => 'Sent by the PHP example'],
    ]);
    if (($answer['ret_code'] ?? null) !== 0 || empty($answer['push_id'])) {
        throw new RuntimeException('push refused: ret_code ' . json_encode($answer['ret_code'] ?? null)
            . ': ' . ($answer['err_msg'] ?? ''));
    }
    return (string) $answer['push_id'];
}

// the states a push record ends in
const FINAL_STATES = ['PUSH_FINISHED', 'PUSH_FAILED', 'PUSH_CANCELED', 'PUSH_DELETED'];

// Ask for the push's record until it reaches a final state (PUSH_FINISHED, ...). The pause
// doubles up to 10 s: Tencent allows 200 record calls per hour per app.
function wait_for_push(string $pushId, int $timeoutS): string
{
    $deadline = microtime(true) + $timeoutS;
    $pause = 1.0;
    $status = 'no record yet';
    while (true) {
        $answer = tpns_post_json('/v3/statistics/get_push_record', ['pushId' => $pushId]);
        if (($answer['retCode'] ?? null) !== 0) {
            throw new RuntimeException('push record refused: retCode '
                . json_encode($answer['retCode'] ?? null) . ': ' . ($answer['errMsg'] ?? ''));
        }
        $record = $answer['pushRecordData'][0] ?? null;
        if (is_array($record)) {
            $status = (string) ($record['status'] ?? '');
            if (in_array($status, FINAL_STATES, true)) {
                return $status;
            }
        }
        if (microtime(true) + $pause > $deadline) {
            throw new RuntimeException("push $pushId not finished within $timeoutS s ($status)");
        }
        usleep((int) ($pause * 1000000));
        $pause = min($pause * 2, 10.0);
    }
}

if ($argc !== 2) {
    fwrite(STDERR, "usage: php examples/php/upload-and-push.php accounts.zip\n");
    exit(2);
}
if (!getenv('TPNS_ACCESS_ID') || !getenv('TPNS_SECRET_KEY')) {
    fwrite(STDERR, "set TPNS_ACCESS_ID and TPNS_SECRET_KEY (and TPNS_BASE_URL)\n");
    exit(2);
}
try {
    $uploadId = upload_package($argv[1]);
    echo "uploadId=$uploadId\n";
    $pushId = push_to_package($uploadId);
    echo "push_id=$pushId\n";
    // a large push takes minutes on Tencent; TPNS_PUSH_WAIT_SECONDS=0 skips the wait
    $wait = getenv('TPNS_PUSH_WAIT_SECONDS');
    $wait = $wait === false || $wait === '' ? 600 : (int) $wait;
    if ($wait > 0) {
        $status = wait_for_push($pushId, $wait);
        echo "status=$status\n";
        if ($status !== 'PUSH_FINISHED') {
            exit(1);
        }
    }
} catch (RuntimeException $error) {
    fwrite(STDERR, $error->getMessage() . "\n");
    exit(1);
}
