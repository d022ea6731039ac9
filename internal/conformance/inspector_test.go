package conformance

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/mcp-frontdoor/mcp-frontdoor/internal/testenv"
)

// fixtureTools are the tools/list names of the go-sdk v1.8.0 fixture.
var fixtureTools = []string{
	"json_schema_2020_12_tool",
	"test_audio_content",
	"test_elicitation",
	"test_elicitation_sep1034_defaults",
	"test_elicitation_sep1330_enums",
	"test_embedded_resource",
	"test_error_handling",
	"test_image_content",
	"test_input_required_result_capabilities",
	"test_input_required_result_elicitation",
	"test_input_required_result_list_roots",
	"test_input_required_result_multi_round",
	"test_input_required_result_multiple_inputs",
	"test_input_required_result_request_state",
	"test_input_required_result_sampling",
	"test_input_required_result_tampered_state",
	"test_logging_tool",
	"test_missing_capability",
	"test_multiple_content_types",
	"test_reconnection",
	"test_sampling",
	"test_simple_text",
	"test_streaming_elicitation",
	"test_tool_with_logging",
	"test_tool_with_progress",
	"test_trigger_prompt_change",
	"test_trigger_tool_change",
	"test_x_mcp_header",
}

// simpleText is test_simple_text's result text.
const simpleText = "This is a simple text response for testing."

// TestInspectorCLIThroughFrontDoors drives the MCP Inspector CLI 2.12.0
// through each front door (it sends the bearer token itself): tools/list gives
// exactly the fixture's tools, tools/call test_simple_text its text, and
// without the token the CLI reports that authorization is required.
func TestInspectorCLIThroughFrontDoors(t *testing.T) {
	testenv.RequireTools(t)
	for _, fd := range frontDoors {
		for _, stateless := range []bool{false, true} {
			name := fd.name + "/" + map[bool]string{false: "stateful", true: "stateless"}[stateless]
			t.Run(name, func(t *testing.T) { inspectorRun(t, fd.door, stateless) })
		}
	}
}

// inspectorRun lists and calls tools through one front door, then checks
// that the CLI without a token is asked to authorize.
func inspectorRun(t *testing.T, door FrontDoor, stateless bool) {
	fixture := StartEverythingServer(t, FixtureOptions{Stateless: stateless})
	url, token := door(t, fixture.URL)
	auth := []string{"Authorization: Bearer " + token}

	list := RunInspector(t, InspectorCall{URL: url, Headers: auth, Method: "tools/list"})
	t.Logf("tools/list: exit %d in %v", list.ExitCode, list.Duration)
	requireExit0(t, "tools/list", list)
	var tl struct {
		Tools []struct {
			Name string `json:"name"`
		} `json:"tools"`
	}
	if err := json.Unmarshal([]byte(list.Stdout), &tl); err != nil {
		t.Fatalf("tools/list output is not JSON: %v\n%s", err, list.Stdout)
	}
	var names []string
	for _, tool := range tl.Tools {
		names = append(names, tool.Name)
	}
	slices.Sort(names)
	if !slices.Equal(names, fixtureTools) {
		t.Errorf("tools/list through the sidecar = %q\nwant %q", names, fixtureTools)
	}

	call := RunInspector(t, InspectorCall{URL: url, Headers: auth, Method: "tools/call", ToolName: "test_simple_text"})
	t.Logf("tools/call test_simple_text: exit %d in %v", call.ExitCode, call.Duration)
	requireExit0(t, "tools/call", call)
	var cr struct {
		Content []struct {
			Type string `json:"type"`
			Text string `json:"text"`
		} `json:"content"`
		IsError bool `json:"isError"`
	}
	if err := json.Unmarshal([]byte(call.Stdout), &cr); err != nil {
		t.Fatalf("tools/call output is not JSON: %v\n%s", err, call.Stdout)
	}
	if cr.IsError || len(cr.Content) != 1 || cr.Content[0].Type != "text" || cr.Content[0].Text != simpleText {
		t.Errorf("tools/call test_simple_text = %s, want one text block %q", call.Stdout, simpleText)
	}

	anon := RunInspector(t, InspectorCall{URL: url, Method: "tools/list"})
	t.Logf("tools/list without token: exit %d in %v; stdout %q; stderr %q", anon.ExitCode, anon.Duration, anon.Stdout, anon.Stderr)
	if anon.TimedOut || anon.ExitCode == 0 {
		t.Errorf("tools/list without a token: exit %d, timed out %t; want a non-zero exit", anon.ExitCode, anon.TimedOut)
	}
	if code := authErrorCode(anon.Stdout + "\n" + anon.Stderr); code != "auth_required" {
		t.Errorf("tools/list without a token: error code %q, want auth_required\nstdout: %s\nstderr: %s", code, anon.Stdout, anon.Stderr)
	}
}

// requireExit0 fails t unless the Inspector call exited 0.
func requireExit0(t *testing.T, what string, r *InspectorResult) {
	t.Helper()
	if r.TimedOut || r.ExitCode != 0 {
		t.Fatalf("%s: exit %d, timed out %t\nstdout: %s\nstderr: %s", what, r.ExitCode, r.TimedOut, r.Stdout, r.Stderr)
	}
}

// authErrorCode finds a JSON object {"error":{"code":...}} on a line of
// out and returns the code, or "".
func authErrorCode(out string) string {
	for line := range strings.Lines(out) {
		line = strings.TrimSpace(line)
		if !strings.HasPrefix(line, "{") {
			continue
		}
		var v struct {
			Error struct {
				Code string `json:"code"`
			} `json:"error"`
		}
		if json.Unmarshal([]byte(line), &v) == nil && v.Error.Code != "" {
			return v.Error.Code
		}
	}
	return ""
}
