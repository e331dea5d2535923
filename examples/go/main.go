// Upload a package of accounts to TPNS (or tpns-mock) and push to it, signed with Tencent's
// HMAC scheme. Standard library only (Go 1.19+):
//
//	TPNS_BASE_URL=http://localhost:8080 TPNS_ACCESS_ID=1500000001 \
//	TPNS_SECRET_KEY=tpns-mock-secret-key go run examples/go/main.go accounts.zip
//
// The Sign covers the exact body bytes, so the multipart form is written into a buffer first
// (mime/multipart), signed, and then sent as those bytes. It then waits for the push's record
// to reach PUSH_FINISHED (TPNS_PUSH_WAIT_SECONDS, default 600; 0 skips the wait). For HTTPS with
// the mock's CA, set SSL_CERT_FILE to its ca.pem.
package main

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

type client struct {
	baseURL, accessID, secretKey string
	http                         *http.Client
}

// sign is Tencent's Sign: Base64 of the lowercase hex HMAC-SHA256 of TimeStamp + AccessId + body.
func (c *client) sign(timestamp string, body []byte) string {
	mac := hmac.New(sha256.New, []byte(c.secretKey))
	mac.Write([]byte(timestamp + c.accessID))
	mac.Write(body)
	return base64.StdEncoding.EncodeToString([]byte(hex.EncodeToString(mac.Sum(nil))))
}

// post sends a signed body and decodes the JSON answer into answer (a struct: keys it does not
// name are ignored, so answers that grow new keys still decode).
func (c *client) post(path, contentType string, body []byte, answer any) error {
	req, err := http.NewRequest(http.MethodPost, strings.TrimRight(c.baseURL, "/")+path, bytes.NewReader(body))
	if err != nil {
		return err
	}
	timestamp := strconv.FormatInt(time.Now().Unix(), 10)
	req.Header.Set("Content-Type", contentType)
	req.Header.Set("AccessId", c.accessID)
	req.Header.Set("TimeStamp", timestamp)
	req.Header.Set("Sign", c.sign(timestamp, body))
	resp, err := c.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(raw, answer); err != nil {
		return fmt.Errorf("%s answered HTTP %d, not the expected JSON: %.200s", path, resp.StatusCode, raw)
	}
	return nil
}

// postJSON sends a JSON request, as every TPNS call but the upload is sent.
func (c *client) postJSON(path string, payload any, answer any) error {
	body, err := json.Marshal(payload)
	if err != nil {
		return err
	}
	return c.post(path, "application/json", body, answer)
}

type uploadAnswer struct {
	RetCode  *int   `json:"retCode"`
	ErrMsg   string `json:"errMsg"`
	UploadID int64  `json:"uploadId"`
}

func (c *client) upload(zipPath string) (int64, error) {
	content, err := os.ReadFile(zipPath)
	if err != nil {
		return 0, err
	}
	// the trick: write the whole form into a buffer, then sign exactly those bytes
	var form bytes.Buffer
	writer := multipart.NewWriter(&form)
	part, err := writer.CreateFormFile("file", filepath.Base(zipPath))
	if err != nil {
		return 0, err
	}
	part.Write(content)
	writer.Close()
	var answer uploadAnswer
	if err := c.post("/v3/push/package/upload", writer.FormDataContentType(), form.Bytes(), &answer); err != nil {
		return 0, err
	}
	if answer.RetCode == nil || *answer.RetCode != 0 {
		return 0, fmt.Errorf("upload refused: retCode %s: %s", code(answer.RetCode), answer.ErrMsg)
	}
	return answer.UploadID, nil
}

type pushAnswer struct {
	RetCode *int   `json:"ret_code"`
	ErrMsg  string `json:"err_msg"`
	PushID  string `json:"push_id"`
}

func (c *client) pushToPackage(uploadID int64) (string, error) {
	var answer pushAnswer
	err := c.postJSON("/v3/push/app", map[string]any{
		"audience_type": "package_account_push",
		"upload_id":     uploadID,
		"message_type":  "notify",
		"message":       map[string]any{"title": "Hello", "content": "Sent by the Go example"},
	}, &answer)
	if err != nil {
		return "", err
	}
	if answer.RetCode == nil || *answer.RetCode != 0 || answer.PushID == "" {
		return "", fmt.Errorf("push refused: ret_code %s: %s", code(answer.RetCode), answer.ErrMsg)
	}
	return answer.PushID, nil
}

type recordAnswer struct {
	RetCode        *int   `json:"retCode"`
	ErrMsg         string `json:"errMsg"`
	PushRecordData []struct {
		Status string `json:"status"`
	} `json:"pushRecordData"`
}

// the states a push record ends in
var finalStates = map[string]bool{
	"PUSH_FINISHED": true, "PUSH_FAILED": true, "PUSH_CANCELED": true, "PUSH_DELETED": true,
}

// waitForPush asks for the push's record until it reaches a final state (PUSH_FINISHED, ...).
// The pause doubles up to 10 s: Tencent allows 200 record calls per hour per app.
func (c *client) waitForPush(pushID string, timeout time.Duration) (string, error) {
	deadline := time.Now().Add(timeout)
	pause, status := time.Second, "no record yet"
	for {
		var answer recordAnswer
		if err := c.postJSON("/v3/statistics/get_push_record", map[string]any{"pushId": pushID}, &answer); err != nil {
			return "", err
		}
		if answer.RetCode == nil || *answer.RetCode != 0 {
			return "", fmt.Errorf("push record refused: retCode %s: %s", code(answer.RetCode), answer.ErrMsg)
		}
		if len(answer.PushRecordData) > 0 {
			status = answer.PushRecordData[0].Status
			if finalStates[status] {
				return status, nil
			}
		}
		if time.Now().Add(pause).After(deadline) {
			return "", fmt.Errorf("push %s not finished within %s (%s)", pushID, timeout, status)
		}
		time.Sleep(pause)
		if pause < 10*time.Second {
			pause *= 2
		}
	}
}

func code(c *int) string {
	if c == nil {
		return "(none)"
	}
	return strconv.Itoa(*c)
}

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: go run examples/go/main.go accounts.zip")
		os.Exit(2)
	}
	c := &client{
		baseURL:   os.Getenv("TPNS_BASE_URL"),
		accessID:  os.Getenv("TPNS_ACCESS_ID"),
		secretKey: os.Getenv("TPNS_SECRET_KEY"),
		http:      &http.Client{Timeout: 60 * time.Second},
	}
	if c.baseURL == "" {
		c.baseURL = "http://localhost:8080"
	}
	if c.accessID == "" || c.secretKey == "" {
		fmt.Fprintln(os.Stderr, "set TPNS_ACCESS_ID and TPNS_SECRET_KEY (and TPNS_BASE_URL)")
		os.Exit(2)
	}
	uploadID, err := c.upload(os.Args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Printf("uploadId=%d\n", uploadID)
	pushID, err := c.pushToPackage(uploadID)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Printf("push_id=%s\n", pushID)
	wait, err := strconv.Atoi(os.Getenv("TPNS_PUSH_WAIT_SECONDS"))
	if err != nil {
		wait = 600 // a large push takes minutes on Tencent; 0 skips the wait
	}
	if wait <= 0 {
		return
	}
	status, err := c.waitForPush(pushID, time.Duration(wait)*time.Second)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Printf("status=%s\n", status)
	if status != "PUSH_FINISHED" {
		os.Exit(1)
	}
}
