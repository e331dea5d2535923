// Upload a package of accounts to TPNS (or tpns-mock) and push to it, signed with Tencent's
// HMAC scheme. Java 11+, the JDK only (HttpClient), run as a single source file:
//
//   TPNS_BASE_URL=http://localhost:8080 TPNS_ACCESS_ID=1500000001 \
//   TPNS_SECRET_KEY=tpns-mock-secret-key java examples/java/UploadAndPush.java accounts.zip
//
// The Sign covers the exact body bytes, and HttpClient has no multipart encoder anyway: the form
// is built by hand into a byte array, which is signed and sent as it is (with OkHttp, write the
// MultipartBody into an okio Buffer first: body.writeTo(buffer), sign buffer's bytes, send them).
// It then waits for the push's record to reach PUSH_FINISHED (TPNS_PUSH_WAIT_SECONDS, default 600;
// 0 skips the wait). For HTTPS with the mock's CA, import ca.pem into a keystore (keytool
// -importcert) and run with -Djavax.net.ssl.trustStore=that.p12
// -Djavax.net.ssl.trustStorePassword=its-password.

import java.io.ByteArrayOutputStream;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Base64;
import java.util.UUID;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import javax.crypto.Mac;
import javax.crypto.spec.SecretKeySpec;

public class UploadAndPush {
    private final String baseUrl;
    private final String accessId;
    private final String secretKey;
    private final HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(10)).build();

    UploadAndPush(String baseUrl, String accessId, String secretKey) {
        this.baseUrl = baseUrl.replaceAll("/+$", "");
        this.accessId = accessId;
        this.secretKey = secretKey;
    }

    /** Tencent's Sign: Base64 of the lowercase hex HMAC-SHA256 of TimeStamp + AccessId + body. */
    String sign(String timestamp, byte[] body) throws Exception {
        Mac mac = Mac.getInstance("HmacSHA256");
        mac.init(new SecretKeySpec(secretKey.getBytes(StandardCharsets.UTF_8), "HmacSHA256"));
        mac.update((timestamp + accessId).getBytes(StandardCharsets.UTF_8));
        String hex = hex(mac.doFinal(body));
        return Base64.getEncoder().encodeToString(hex.getBytes(StandardCharsets.US_ASCII));
    }

    /** Send a signed body; the JSON answer as text (read with {@link #field}). */
    String post(String path, String contentType, byte[] body) throws Exception {
        String timestamp = Long.toString(System.currentTimeMillis() / 1000);
        HttpRequest request = HttpRequest.newBuilder(URI.create(baseUrl + path))
                .timeout(Duration.ofSeconds(60))
                .header("Content-Type", contentType)
                .header("AccessId", accessId)
                .header("TimeStamp", timestamp)
                .header("Sign", sign(timestamp, body))
                .POST(HttpRequest.BodyPublishers.ofByteArray(body))
                .build();
        HttpResponse<String> response = http.send(request, HttpResponse.BodyHandlers.ofString());
        String text = response.body();
        if (!text.trim().startsWith("{")) {
            throw new IllegalStateException(path + " answered HTTP " + response.statusCode() + ", not JSON: "
                    + text.substring(0, Math.min(200, text.length())));
        }
        return text;
    }

    /** A JSON request, as every TPNS call but the upload is sent. */
    String postJson(String path, String json) throws Exception {
        return post(path, "application/json", json.getBytes(StandardCharsets.UTF_8));
    }

    long upload(Path zip) throws Exception {
        String boundary = "tpns" + UUID.randomUUID().toString().replace("-", "");
        ByteArrayOutputStream body = new ByteArrayOutputStream();
        body.write(("--" + boundary + "\r\n"
                + "Content-Disposition: form-data; name=\"file\"; filename=\"" + zip.getFileName() + "\"\r\n"
                + "Content-Type: application/zip\r\n\r\n").getBytes(StandardCharsets.UTF_8));
        body.write(Files.readAllBytes(zip));
        body.write(("\r\n--" + boundary + "--\r\n").getBytes(StandardCharsets.UTF_8));
        String answer = post("/v3/push/package/upload", "multipart/form-data; boundary=" + boundary,
                body.toByteArray());
        if (!"0".equals(field(answer, "retCode"))) {
            throw new IllegalStateException("upload refused: retCode " + field(answer, "retCode") + ": "
                    + field(answer, "errMsg"));
        }
        return Long.parseLong(field(answer, "uploadId"));
    }

    String pushToPackage(long uploadId) throws Exception {
        String answer = postJson("/v3/push/app", "{\"audience_type\":\"package_account_push\","
                + "\"upload_id\":" + uploadId + ",\"message_type\":\"notify\","
                + "\"message\":{\"title\":\"Hello\",\"content\":\"Sent by the Java example\"}}");
        String pushId = field(answer, "push_id");
        if (!"0".equals(field(answer, "ret_code")) || pushId == null || pushId.isEmpty()) {
            throw new IllegalStateException("push refused: ret_code " + field(answer, "ret_code") + ": "
                    + field(answer, "err_msg"));
        }
        return pushId;
    }

    /** The states a push record ends in. */
    static final java.util.Set<String> FINAL_STATES =
            java.util.Set.of("PUSH_FINISHED", "PUSH_FAILED", "PUSH_CANCELED", "PUSH_DELETED");

    /**
     * Ask for the push's record until it reaches a final state (PUSH_FINISHED, ...). The pause
     * doubles up to 10 s: Tencent allows 200 record calls per hour per app.
     */
    String waitForPush(String pushId, long timeoutS) throws Exception {
        long deadline = System.currentTimeMillis() + timeoutS * 1000;
        long pause = 1000;
        String status = "no record yet";
        while (true) {
            String answer = postJson("/v3/statistics/get_push_record",
                    "{\"pushId\":\"" + pushId + "\"}");
            if (!"0".equals(field(answer, "retCode"))) {
                throw new IllegalStateException("push record refused: retCode " + field(answer, "retCode")
                        + ": " + field(answer, "errMsg"));
            }
            String found = field(answer, "status"); // the first record's (records hold a status)
            if (found != null) {
                status = found;
                if (FINAL_STATES.contains(status)) {
                    return status;
                }
            }
            if (System.currentTimeMillis() + pause > deadline) {
                throw new IllegalStateException("push " + pushId + " not finished within " + timeoutS
                        + " s (" + status + ")");
            }
            Thread.sleep(pause);
            pause = Math.min(pause * 2, 10_000);
        }
    }

    /**
     * The value of a string or number field of a JSON answer, or null. The JDK has no JSON
     * parser; with Jackson or Gson, read the answer into a Map instead (unknown keys ignored).
     */
    static String field(String json, String name) {
        Matcher m = Pattern.compile("\"" + Pattern.quote(name) + "\"\\s*:\\s*(?:\"((?:[^\"\\\\]|\\\\.)*)\"|(-?\\d+))")
                .matcher(json);
        if (!m.find()) {
            return null;
        }
        return m.group(1) != null ? m.group(1) : m.group(2);
    }

    static String hex(byte[] bytes) {
        StringBuilder text = new StringBuilder(bytes.length * 2);
        for (byte b : bytes) {
            text.append(String.format("%02x", b));
        }
        return text.toString();
    }

    public static void main(String[] args) throws Exception {
        if (args.length != 1) {
            System.err.println("usage: java examples/java/UploadAndPush.java accounts.zip");
            System.exit(2);
        }
        String baseUrl = System.getenv().getOrDefault("TPNS_BASE_URL", "http://localhost:8080");
        String accessId = System.getenv("TPNS_ACCESS_ID");
        String secretKey = System.getenv("TPNS_SECRET_KEY");
        if (accessId == null || accessId.isEmpty() || secretKey == null || secretKey.isEmpty()) {
            System.err.println("set TPNS_ACCESS_ID and TPNS_SECRET_KEY (and TPNS_BASE_URL)");
            System.exit(2);
        }
        UploadAndPush tpns = new UploadAndPush(baseUrl, accessId, secretKey);
        try {
            long uploadId = tpns.upload(Path.of(args[0]));
            System.out.println("uploadId=" + uploadId);
            String pushId = tpns.pushToPackage(uploadId);
            System.out.println("push_id=" + pushId);
            // a large push takes minutes on Tencent; TPNS_PUSH_WAIT_SECONDS=0 skips the wait
            String wait = System.getenv().getOrDefault("TPNS_PUSH_WAIT_SECONDS", "");
            long waitS = wait.isEmpty() ? 600 : Long.parseLong(wait);
            if (waitS > 0) {
                String status = tpns.waitForPush(pushId, waitS);
                System.out.println("status=" + status);
                if (!"PUSH_FINISHED".equals(status)) {
                    System.exit(1);
                }
            }
        } catch (java.io.IOException | IllegalStateException e) {
            System.err.println(e.getMessage() != null ? e.getMessage() : e.toString());
            System.exit(1);
        }
    }
}
