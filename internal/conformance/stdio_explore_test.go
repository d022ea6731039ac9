package conformance

import "testing"

func TestExploreServerEverything(t *testing.T) {
	url, token := SidecarStdioFrontDoor(t, StdioOptions{Command: ServerEverythingCommand(t), Env: map[string]string{"EVERYTHING_GREETING": "hi"}})
	auth := []string{"Authorization: Bearer " + token}
	for _, c := range []InspectorCall{
		{Method: "tools/list"},
		{Method: "tools/call", ToolName: "echo", ToolArgs: []string{"message=hello from the front door"}},
		{Method: "tools/call", ToolName: "get-env"},
		{Method: "resources/list"},
		{Method: "resources/read", URI: "demo://resource/static/document/features.md"},
		{Method: "resources/read", URI: "demo://resource/dynamic/text/1"},
		{Method: "prompts/list"},
		{Method: "prompts/get", PromptName: "simple-prompt"},
		{Method: "prompts/get", PromptName: "args-prompt", PromptArgs: []string{"city=Lisbon", "state=Lisboa"}},
	} {
		c.URL, c.Headers = url, auth
		r := RunInspector(t, c)
		t.Logf("%s %s: exit %d %v\nstdout: %s\nstderr: %s", c.Method, c.ToolName+c.URI+c.PromptName, r.ExitCode, r.Duration, r.Stdout, r.Stderr)
	}
}
