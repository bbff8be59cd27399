// Package charts tests the Helm chart: lint, render, strict decoding into
// Kubernetes API types, and a cross-check against the service's settings.
// It is its own module so the Kubernetes libraries stay out of the
// service's go.mod.
package charts

import (
	"bufio"
	"bytes"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	"sigs.k8s.io/yaml"
)

const chartDir = "usersvc"

// secretValues appear in the test values files; none may land in a
// ConfigMap or in an env value.
var secretValues = []string{"s3cr3t-oidc-client", "n3o4j-password", "00okta-ssws-token", "frontend-secret-unused", "scim-token-0123456789abcdef",
	"hook-secret-0123456789", "entra-cl13nt-s3cret~value", "g00gle-pr1vate-key", "g00gle-key-id", "ld4p-b1nd-passw0rd"}

// secretNames are settings that only ever come from a Secret.
var secretNames = []string{"FLASK_OIDC_CLIENT_SECRET", "OKTA_CLIENT_TOKEN", "OKTA_CLIENT_PRIVATEKEY", "CREDENTIALS_PROXY_PASSWORD", "SCIM_TOKEN"}

func helm(t *testing.T) string {
	t.Helper()
	if h := os.Getenv("HELM"); h != "" {
		return h
	}
	if _, err := os.Stat("../bin/helm"); err == nil {
		abs, _ := filepath.Abs("../bin/helm")
		return abs
	}
	if p, err := exec.LookPath("helm"); err == nil {
		return p
	}
	t.Fatal("helm not found: set HELM, or run `make test`, which installs bin/helm")
	return ""
}

func runHelm(t *testing.T, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(helm(t), args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return string(out), fmt.Errorf("helm %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return string(out), nil
}

// rendered is one `helm template` output, decoded strictly.
type rendered struct {
	deployment *appsv1.Deployment
	configMap  *corev1.ConfigMap
	secret     *corev1.Secret
	service    *corev1.Service
	account    *corev1.ServiceAccount
	pvc        *corev1.PersistentVolumeClaim
	testPod    *corev1.Pod
	ingress    *networkingv1.Ingress
	hpa        *autoscalingv2.HorizontalPodAutoscaler
	pdb        *policyv1.PodDisruptionBudget
	netpol     *networkingv1.NetworkPolicy
	monitor    *serviceMonitor
	kinds      []string
}

// serviceMonitor is the part of prometheus-operator's CRD the chart renders;
// decoding is strict, so any other field fails the test.
type serviceMonitor struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Metadata   struct {
		Name   string            `json:"name"`
		Labels map[string]string `json:"labels"`
	} `json:"metadata"`
	Spec struct {
		Selector struct {
			MatchLabels map[string]string `json:"matchLabels"`
		} `json:"selector"`
		Endpoints []struct {
			Port          string `json:"port"`
			Path          string `json:"path"`
			Interval      string `json:"interval"`
			ScrapeTimeout string `json:"scrapeTimeout"`
		} `json:"endpoints"`
	} `json:"spec"`
}

// decodeStrict fails on any field the Kubernetes type does not have.
func decodeStrict(t *testing.T, doc string, into any) {
	t.Helper()
	if err := yaml.UnmarshalStrict([]byte(doc), into); err != nil {
		t.Fatalf("manifest does not decode strictly into %T: %v\n%s", into, err, doc)
	}
}

func render(t *testing.T, args ...string) rendered {
	t.Helper()
	out, err := runHelm(t, append([]string{"template", "rel", chartDir, "--namespace", "catalog"}, args...)...)
	if err != nil {
		t.Fatal(err)
	}
	var r rendered
	for _, doc := range strings.Split(out, "\n---") {
		if strings.TrimSpace(stripComments(doc)) == "" {
			continue
		}
		var head struct {
			Kind string `json:"kind"`
		}
		if err := yaml.Unmarshal([]byte(doc), &head); err != nil {
			t.Fatalf("invalid YAML: %v\n%s", err, doc)
		}
		r.kinds = append(r.kinds, head.Kind)
		switch head.Kind {
		case "Deployment":
			r.deployment = &appsv1.Deployment{}
			decodeStrict(t, doc, r.deployment)
		case "ConfigMap":
			r.configMap = &corev1.ConfigMap{}
			decodeStrict(t, doc, r.configMap)
		case "Secret":
			r.secret = &corev1.Secret{}
			decodeStrict(t, doc, r.secret)
		case "Service":
			r.service = &corev1.Service{}
			decodeStrict(t, doc, r.service)
		case "ServiceAccount":
			r.account = &corev1.ServiceAccount{}
			decodeStrict(t, doc, r.account)
		case "PersistentVolumeClaim":
			r.pvc = &corev1.PersistentVolumeClaim{}
			decodeStrict(t, doc, r.pvc)
		case "Pod":
			r.testPod = &corev1.Pod{}
			decodeStrict(t, doc, r.testPod)
		case "Ingress":
			r.ingress = &networkingv1.Ingress{}
			decodeStrict(t, doc, r.ingress)
		case "HorizontalPodAutoscaler":
			r.hpa = &autoscalingv2.HorizontalPodAutoscaler{}
			decodeStrict(t, doc, r.hpa)
		case "PodDisruptionBudget":
			r.pdb = &policyv1.PodDisruptionBudget{}
			decodeStrict(t, doc, r.pdb)
		case "NetworkPolicy":
			r.netpol = &networkingv1.NetworkPolicy{}
			decodeStrict(t, doc, r.netpol)
		case "ServiceMonitor":
			r.monitor = &serviceMonitor{}
			decodeStrict(t, doc, r.monitor)
		default:
			t.Fatalf("unexpected kind %q", head.Kind)
		}
	}
	if r.deployment == nil || r.configMap == nil || r.service == nil {
		t.Fatalf("missing core manifests, got %v", r.kinds)
	}
	return r
}

func stripComments(doc string) string {
	var b strings.Builder
	sc := bufio.NewScanner(strings.NewReader(doc))
	for sc.Scan() {
		if line := strings.TrimSpace(sc.Text()); line != "" && !strings.HasPrefix(line, "#") {
			b.WriteString(line + "\n")
		}
	}
	return b.String()
}

func (r rendered) container(t *testing.T) corev1.Container {
	t.Helper()
	cs := r.deployment.Spec.Template.Spec.Containers
	if len(cs) != 1 {
		t.Fatalf("%d containers, want 1", len(cs))
	}
	return cs[0]
}

// envNames lists every variable the chart sets for the container: the
// ConfigMap's keys (via envFrom) and the explicit env entries.
func (r rendered) envNames(t *testing.T) map[string]bool {
	names := map[string]bool{}
	for k := range r.configMap.Data {
		names[k] = true
	}
	for _, e := range r.container(t).Env {
		names[e.Name] = true
	}
	return names
}

var scenarios = []struct {
	name   string
	values string // testdata file, "" for the defaults
}{
	{"defaults", ""},
	{"amundsen", "testdata/amundsen.yaml"},
	{"amundsen, client under oidc.configs", "testdata/amundsen-configs.yaml"},
	{"amundsen, org authorization server", "testdata/amundsen-org.yaml"},
	{"existing secrets", "testdata/existing-secret.yaml"},
	{"everything enabled", "testdata/everything.yaml"},
	{"embedded with persistence", "testdata/embedded-persistent.yaml"},
	{"pass-through", "testdata/passthrough.yaml"},
	{"entra", "testdata/entra.yaml"},
	{"entra, existing secret", "testdata/entra-existing-secret.yaml"},
	{"google", "testdata/google.yaml"},
	{"google, existing secret", "testdata/google-existing-secret.yaml"},
	{"ldap", "testdata/ldap.yaml"},
	{"ldap, existing secrets", "testdata/ldap-existing-secret.yaml"},
}

func valuesArgs(file string) []string {
	if file == "" {
		return nil
	}
	return []string{"-f", file}
}

func TestLintStrict(t *testing.T) {
	for _, sc := range scenarios {
		t.Run(sc.name, func(t *testing.T) {
			if out, err := runHelm(t, append([]string{"lint", "--strict", chartDir}, valuesArgs(sc.values)...)...); err != nil {
				t.Fatalf("%v\n%s", err, out)
			}
		})
	}
}

func TestRenderedManifests(t *testing.T) {
	for _, sc := range scenarios {
		t.Run(sc.name, func(t *testing.T) {
			r := render(t, valuesArgs(sc.values)...)
			c := r.container(t)
			pod := r.deployment.Spec.Template.Spec

			// Probes point at routes that are open without a token.
			for name, probe := range map[string]*corev1.Probe{"liveness": c.LivenessProbe, "readiness": c.ReadinessProbe, "startup": c.StartupProbe} {
				if probe == nil || probe.HTTPGet == nil {
					t.Fatalf("%s probe missing", name)
				}
				if p := probe.HTTPGet.Path; p != "/livez" && p != "/readyz" {
					t.Fatalf("%s probe path %q is not an always-open route", name, p)
				}
				if probe.HTTPGet.Port.String() != "http" {
					t.Fatalf("%s probe port %v", name, probe.HTTPGet.Port)
				}
			}
			if c.ReadinessProbe.HTTPGet.Path != "/readyz" || c.LivenessProbe.HTTPGet.Path != "/livez" {
				t.Fatal("readiness must use /readyz and liveness /livez")
			}
			if c.Ports[0].Name != "http" || c.Ports[0].ContainerPort != 5002 || r.service.Spec.Ports[0].Port != 5002 {
				t.Fatalf("ports: container %v service %v", c.Ports, r.service.Spec.Ports)
			}
			// Metrics listen on their own port, never the API's.
			if addr := r.configMap.Data["METRICS_ADDR"]; addr != ":9102" || len(c.Ports) != 2 || c.Ports[1].Name != "metrics" || c.Ports[1].ContainerPort != 9102 {
				t.Fatalf("metrics: METRICS_ADDR %q, ports %v", addr, c.Ports)
			}

			assertHardened(t, "container", c.SecurityContext, pod.SecurityContext)
			if r.testPod == nil {
				t.Fatal("no helm test pod")
			}
			if r.testPod.Annotations["helm.sh/hook"] != "test" || !strings.HasSuffix(strings.Join(r.testPod.Spec.Containers[0].Args, " "), "/healthcheck") {
				t.Fatalf("test pod = %+v", r.testPod.Spec.Containers[0].Args)
			}
			assertHardened(t, "test pod", r.testPod.Spec.Containers[0].SecurityContext, r.testPod.Spec.SecurityContext)

			// Secrets never in ConfigMaps.
			for k, v := range r.configMap.Data {
				if slices.Contains(secretNames, k) {
					t.Fatalf("ConfigMap carries the secret setting %s", k)
				}
				for _, s := range secretValues {
					if strings.Contains(v, s) {
						t.Fatalf("ConfigMap %s holds a secret value", k)
					}
				}
			}
			for _, e := range c.Env {
				if slices.Contains(secretNames, e.Name) && (e.Value != "" || e.ValueFrom == nil || e.ValueFrom.SecretKeyRef == nil) {
					t.Fatalf("%s is not read from a Secret: %+v", e.Name, e)
				}
				for _, s := range secretValues {
					if strings.Contains(e.Value, s) {
						t.Fatalf("env %s holds a secret value", e.Name)
					}
				}
			}
			assertSecretRefsResolve(t, r)

			// Secret files: each *_FILE names a file of a read-only Secret
			// volume that only root and the pod's group can read.
			for _, e := range c.Env {
				if !slices.Contains(secretFileNames, e.Name) {
					continue
				}
				src, ok := r.fileSource(t, e.Value)
				if !ok {
					t.Fatalf("%s=%q is not a file of a mounted Secret volume", e.Name, e.Value)
				}
				if src.mode != 0o440 || pod.SecurityContext.FSGroup == nil {
					t.Fatalf("%s: mode %#o, fsGroup %v: want 0440 for root and the pod's fsGroup", e.Name, src.mode, pod.SecurityContext.FSGroup)
				}
			}
			for _, m := range c.VolumeMounts {
				for _, v := range pod.Volumes {
					if v.Name == m.Name && v.Secret != nil && !m.ReadOnly {
						t.Fatalf("Secret volume %s is mounted writable", v.Name)
					}
				}
			}

			// Config and secret changes roll the pods.
			ann := r.deployment.Spec.Template.Annotations
			if len(ann["checksum/config"]) != 64 || len(ann["checksum/secret"]) != 64 {
				t.Fatalf("checksum annotations = %v", ann)
			}
		})
	}
}

// secretFileNames are the settings that name a file holding a secret (or,
// for LDAP_CA_FILE, a CA taken from a Secret); the chart mounts each.
var secretFileNames = []string{"ENTRA_CLIENT_SECRET_FILE", "GOOGLE_CREDENTIALS_FILE", "LDAP_BIND_PASSWORD_FILE", "LDAP_CA_FILE"}

// fileSource is where a mounted file comes from.
type fileSource struct {
	volume, secret, key string
	mode                int32
}

// fileSource follows path through the container's mounts to a key of a
// Secret volume; mounts must be read-only.
func (r rendered) fileSource(t *testing.T, path string) (fileSource, bool) {
	t.Helper()
	pod := r.deployment.Spec.Template.Spec
	for _, m := range r.container(t).VolumeMounts {
		rel, ok := strings.CutPrefix(path, strings.TrimSuffix(m.MountPath, "/")+"/")
		if !ok || m.SubPath != "" {
			continue
		}
		if !m.ReadOnly {
			t.Fatalf("volume %s holding %s is mounted writable", m.Name, path)
		}
		for _, v := range pod.Volumes {
			if v.Name != m.Name || v.Secret == nil {
				continue
			}
			for _, item := range v.Secret.Items {
				if item.Path != rel {
					continue
				}
				src := fileSource{volume: v.Name, secret: v.Secret.SecretName, key: item.Key, mode: -1}
				switch {
				case item.Mode != nil:
					src.mode = *item.Mode
				case v.Secret.DefaultMode != nil:
					src.mode = *v.Secret.DefaultMode
				}
				return src, true
			}
		}
	}
	return fileSource{}, false
}

// assertSecretRefsResolve: every reference to the chart's own Secret (env
// and volumes) names a key it holds; no Secret rendered, none refers to it.
func assertSecretRefsResolve(t *testing.T, r rendered) {
	t.Helper()
	own := r.deployment.Name // the chart's Secret shares the fullname
	check := func(what, name, key string) {
		if name != own {
			return
		}
		if r.secret == nil {
			t.Fatalf("%s refers to Secret %s, which the chart does not render", what, name)
		}
		if _, ok := r.secret.Data[key]; !ok {
			t.Fatalf("%s refers to key %s, which Secret %s does not hold", what, key, name)
		}
	}
	for _, e := range r.container(t).Env {
		if e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil {
			check("env "+e.Name, e.ValueFrom.SecretKeyRef.Name, e.ValueFrom.SecretKeyRef.Key)
		}
	}
	for _, v := range r.deployment.Spec.Template.Spec.Volumes {
		if v.Secret == nil {
			continue
		}
		if len(v.Secret.Items) == 0 {
			t.Fatalf("Secret volume %s mounts every key; list the one the service reads", v.Name)
		}
		for _, item := range v.Secret.Items {
			check("volume "+v.Name, v.Secret.SecretName, item.Key)
		}
	}
}

func assertHardened(t *testing.T, what string, sc *corev1.SecurityContext, psc *corev1.PodSecurityContext) {
	t.Helper()
	if sc == nil || psc == nil {
		t.Fatalf("%s: security contexts missing", what)
	}
	switch {
	case sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot, psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot:
		t.Fatalf("%s: not forced non-root", what)
	case sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem:
		t.Fatalf("%s: root filesystem writable", what)
	case sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation:
		t.Fatalf("%s: privilege escalation allowed", what)
	case sc.Capabilities == nil || !slices.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) || len(sc.Capabilities.Add) > 0:
		t.Fatalf("%s: capabilities = %+v", what, sc.Capabilities)
	case sc.SeccompProfile == nil || sc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault:
		t.Fatalf("%s: seccomp = %+v", what, sc.SeccompProfile)
	case psc.RunAsUser == nil || *psc.RunAsUser == 0:
		t.Fatalf("%s: runs as root", what)
	}
}

func TestScenarioSpecifics(t *testing.T) {
	t.Run("defaults: embedded, auth off, single replica", func(t *testing.T) {
		r := render(t)
		env := r.configMap.Data
		if env["AUTH_DISABLED"] != "true" || env["PROXY_CLIENT"] != "embedded" || env["EMBEDDED_DB_PATH"] != "/data/usersvc.db" {
			t.Fatalf("defaults env = %v", env)
		}
		if *r.deployment.Spec.Replicas != 1 || r.deployment.Spec.Strategy.Type != appsv1.RecreateDeploymentStrategyType {
			t.Fatal("the embedded store must run one replica with Recreate")
		}
		if r.secret != nil || r.ingress != nil || r.hpa != nil || r.pdb != nil || r.netpol != nil {
			t.Fatalf("optional objects rendered by default: %v", r.kinds)
		}
		if r.account == nil || r.account.AutomountServiceAccountToken == nil || *r.account.AutomountServiceAccountToken {
			t.Fatal("service account must not automount a token")
		}
	})

	t.Run("amundsen values for the org authorization server", func(t *testing.T) {
		// Amundsen's Okta guide values plus the client secret: no audience,
		// so introspected org tokens are not held to the client id.
		r := render(t, "-f", "testdata/amundsen-org.yaml")
		env := r.configMap.Data
		if env["FLASK_OIDC_CONFIG_URL"] != "https://example.okta.com/.well-known/openid-configuration" ||
			env["FLASK_OIDC_CLIENT_ID"] != "amundsen-metadata" {
			t.Fatalf("env = %v", env)
		}
		if _, ok := env["OIDC_AUDIENCE"]; ok {
			t.Fatal("OIDC_AUDIENCE set for the org authorization server")
		}
		if r.secret == nil || string(r.secret.Data["FLASK_OIDC_CLIENT_SECRET"]) != "s3cr3t-oidc-client" {
			t.Fatalf("the client secret introspection needs is missing: %v", r.secret)
		}
		if strings.Contains(fmt.Sprint(env), "s3cr3t") {
			t.Fatal("the client secret is in the ConfigMap")
		}
	})

	t.Run("amundsen values: oidc configs become env", func(t *testing.T) {
		r := render(t, "-f", "testdata/amundsen.yaml")
		env := r.configMap.Data
		want := map[string]string{
			"FLASK_OIDC_CONFIG_URL":            "https://example.okta.com/oauth2/default/.well-known/openid-configuration",
			"FLASK_OIDC_SCOPES":                "openid email profile offline_access",
			"FLASK_OIDC_WHITELISTED_ENDPOINTS": "status,healthcheck,health,api.healthcheck",
			"FLASK_OIDC_CLIENT_ID":             "amundsen-metadata",
			"OIDC_AUDIENCE":                    "api://default",
			"PROXY_CLIENT":                     "neo4j",
			"PROXY_HOST":                       "bolt://neo4j.amundsen.svc.cluster.local",
			"PROXY_PORT":                       "7687",
			"CREDENTIALS_PROXY_USER":           "neo4j",
		}
		for k, v := range want {
			if env[k] != v {
				t.Errorf("%s = %q, want %q", k, env[k], v)
			}
		}
		if _, ok := env["AUTH_DISABLED"]; ok {
			t.Fatal("AUTH_DISABLED set with oidc enabled")
		}
		if r.secret == nil || string(r.secret.Data["FLASK_OIDC_CLIENT_SECRET"]) != "s3cr3t-oidc-client" ||
			string(r.secret.Data["CREDENTIALS_PROXY_PASSWORD"]) != "n3o4j-password" {
			t.Fatalf("secret = %v", r.secret)
		}
		if _, ok := r.secret.Data["frontend"]; ok || strings.Contains(fmt.Sprint(r.secret.Data), "frontend-secret-unused") {
			t.Fatal("the frontend's secret leaked into this service")
		}
		if *r.deployment.Spec.Replicas != 2 {
			t.Fatalf("replicas = %d", *r.deployment.Spec.Replicas)
		}
	})

	t.Run("amundsen values: the client under oidc.configs", func(t *testing.T) {
		r := render(t, "-f", "testdata/amundsen-configs.yaml")
		env := r.configMap.Data
		if env["FLASK_OIDC_CLIENT_ID"] != "amundsen-metadata" || env["FLASK_OIDC_USER_ID_FIELD"] != "email" || env["OIDC_AUDIENCE"] != "api://default" {
			t.Fatalf("env = %v", env)
		}
		if r.secret == nil || string(r.secret.Data["FLASK_OIDC_CLIENT_SECRET"]) != "s3cr3t-oidc-client" {
			t.Fatalf("the client secret from oidc.configs is not in the Secret: %v", r.secret)
		}
		refs := 0
		for _, e := range r.container(t).Env {
			if e.Name == "FLASK_OIDC_CLIENT_SECRET" && e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil && e.ValueFrom.SecretKeyRef.Name == r.secret.Name {
				refs++
			}
		}
		if refs != 1 {
			t.Fatal("FLASK_OIDC_CLIENT_SECRET is not read from the chart's Secret")
		}
	})

	t.Run("the client in both shapes must agree", func(t *testing.T) {
		out, err := runHelm(t, "template", "x", chartDir, "-f", "testdata/amundsen-configs.yaml", "--set", "oidc.metadata.client_id=other")
		if err == nil || !strings.Contains(fmt.Sprint(err)+out, "oidc.metadata.client_id and oidc.configs.FLASK_OIDC_CLIENT_ID differ") {
			t.Fatalf("conflicting client ids rendered: %v\n%s", err, out)
		}
		if _, err := runHelm(t, "template", "x", chartDir, "-f", "testdata/amundsen-configs.yaml", "--set", "oidc.metadata.client_id=amundsen-metadata"); err != nil {
			t.Fatalf("the same client id in both shapes: %v", err)
		}
	})

	t.Run("the event-hook secret goes to the Secret, its header to the ConfigMap", func(t *testing.T) {
		r := render(t, "-f", "testdata/everything.yaml")
		if r.secret == nil || string(r.secret.Data["OKTA_EVENT_HOOK_SECRET"]) != "hook-secret-0123456789" {
			t.Fatalf("Secret = %v", r.secret)
		}
		if h := r.configMap.Data["OKTA_EVENT_HOOK_HEADER"]; h != "X-Usersvc-Hook" {
			t.Fatalf("OKTA_EVENT_HOOK_HEADER = %q", h)
		}
		if _, ok := r.configMap.Data["OKTA_EVENT_HOOK_SECRET"]; ok {
			t.Fatal("the event-hook secret is in the ConfigMap")
		}
		found := false
		for _, e := range r.container(t).Env {
			if e.Name == "OKTA_EVENT_HOOK_SECRET" && e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil && e.ValueFrom.SecretKeyRef.Name == r.secret.Name {
				found = true
			}
		}
		if !found {
			t.Fatal("OKTA_EVENT_HOOK_SECRET is not read from the chart's Secret")
		}
		if def := render(t); def.secret != nil && def.secret.Data["OKTA_EVENT_HOOK_SECRET"] != nil {
			t.Fatal("the defaults store an event-hook secret")
		}
	})

	t.Run("existing secrets are referenced, not created", func(t *testing.T) {
		r := render(t, "-f", "testdata/existing-secret.yaml")
		if r.secret != nil {
			t.Fatalf("a Secret was rendered although existing ones are named: %v", r.secret.Data)
		}
		refs := map[string]string{}
		for _, e := range r.container(t).Env {
			if e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil {
				refs[e.Name] = e.ValueFrom.SecretKeyRef.Name
			}
		}
		want := map[string]string{"FLASK_OIDC_CLIENT_SECRET": "usersvc-oidc", "OKTA_CLIENT_TOKEN": "usersvc-okta",
			"OKTA_CLIENT_PRIVATEKEY": "usersvc-okta", "OKTA_EVENT_HOOK_SECRET": "usersvc-okta", "CREDENTIALS_PROXY_PASSWORD": "usersvc-neo4j",
			"SCIM_TOKEN": "usersvc-scim"}
		if fmt.Sprint(refs) != fmt.Sprint(want) {
			t.Fatalf("secret refs = %v, want %v", refs, want)
		}
		if env := r.configMap.Data; env["OKTA_CLIENT_AUTHORIZATIONMODE"] != "PrivateKey" || env["OKTA_CLIENT_CLIENTID"] != "0oa-usersvc" || env["PROXY_DATABASE"] != "amundsen" {
			t.Fatalf("env = %v", env)
		}
	})

	t.Run("everything enabled", func(t *testing.T) {
		r := render(t, "-f", "testdata/everything.yaml")
		if r.ingress == nil || r.hpa == nil || r.pdb == nil || r.netpol == nil {
			t.Fatalf("kinds = %v", r.kinds)
		}
		if r.deployment.Spec.Replicas != nil {
			t.Fatal("replicas set while the HPA owns them")
		}
		if r.hpa.Spec.MaxReplicas != 6 || r.hpa.Spec.ScaleTargetRef.Name != r.deployment.Name {
			t.Fatalf("hpa = %+v", r.hpa.Spec)
		}
		if r.netpol.Spec.Ingress[0].Ports[0].Port.String() != "http" || r.netpol.Spec.Ingress[1].Ports[0].Port.String() != "metrics" {
			t.Fatalf("network policy ingress = %+v", r.netpol.Spec.Ingress)
		}
		if r.monitor == nil || r.monitor.Spec.Endpoints[0].Port != "metrics" || r.monitor.Spec.Endpoints[0].Path != "/metrics" ||
			r.monitor.Spec.Selector.MatchLabels["app.kubernetes.io/name"] != "usersvc" || r.monitor.Metadata.Labels["release"] != "prometheus" {
			t.Fatalf("service monitor = %+v", r.monitor)
		}
		if len(r.service.Spec.Ports) != 2 || r.service.Spec.Ports[1].Name != "metrics" {
			t.Fatalf("service ports = %+v", r.service.Spec.Ports)
		}
		if got := r.container(t).Image; got != "registry.example.com/usersvc:1.2.3" {
			t.Fatalf("image = %s", got)
		}
		if r.configMap.Data["PROXY_ENCRYPTED"] != "true" || r.configMap.Data["OIDC_TOKEN_CACHE_SIZE"] != "20000" ||
			r.configMap.Data["CORS_ALLOWED_ORIGINS"] != "https://amundsen.example.com" {
			t.Fatalf("env = %v", r.configMap.Data)
		}
	})

	t.Run("metrics off", func(t *testing.T) {
		r := render(t, "--set", "metrics.enabled=false")
		if r.configMap.Data["METRICS_ADDR"] != "off" || len(r.container(t).Ports) != 1 || len(r.service.Spec.Ports) != 1 || r.monitor != nil {
			t.Fatalf("metrics off: env %q ports %v", r.configMap.Data["METRICS_ADDR"], r.container(t).Ports)
		}
	})

	t.Run("pass-through: upstream env and an egress rule to it", func(t *testing.T) {
		r := render(t, "-f", "testdata/passthrough.yaml")
		env := r.configMap.Data
		for k, v := range map[string]string{
			"METADATA_UPSTREAM_URL": "http://amundsen-metadata.amundsen.svc.cluster.local:5002",
			"UPSTREAM_TIMEOUT":      "5s", "UPSTREAM_MAX_BODY": "2MiB", "UPSTREAM_FORWARD_AUTH": "false",
		} {
			if env[k] != v {
				t.Errorf("%s = %q, want %q", k, env[k], v)
			}
		}
		np := r.netpol.Spec
		if fmt.Sprint(np.PolicyTypes) != "[Ingress Egress]" {
			t.Fatalf("policy types %v", np.PolicyTypes)
		}
		// Rules, in order: DNS, the upstream, Neo4j, HTTPS, then extra.
		var got []string
		for _, rule := range np.Egress {
			var ports []string
			for _, p := range rule.Ports {
				ports = append(ports, fmt.Sprintf("%s/%s", p.Port.String(), *p.Protocol))
			}
			var peers []string
			for _, peer := range rule.To {
				switch {
				case peer.PodSelector != nil:
					peers = append(peers, "pods:"+peer.PodSelector.MatchLabels["app.kubernetes.io/name"])
				case peer.IPBlock != nil:
					peers = append(peers, peer.IPBlock.CIDR)
				}
			}
			got = append(got, strings.Join(ports, ",")+" to "+strings.Join(peers, ","))
		}
		want := []string{"53/UDP,53/TCP to ", "5002/TCP to pods:amundsen-metadata", "7687/TCP to ", "443/TCP to ", "8443/TCP to 10.20.0.0/16"}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("egress rules\n got %q\nwant %q", got, want)
		}

		// The port follows the URL's scheme; peers default to the namespace.
		r = render(t, "--set", "upstream.metadataUrl=https://metadata.example.com/api", "--set", "networkPolicy.enabled=true",
			"--set", "networkPolicy.egress.enabled=true")
		if rule := r.netpol.Spec.Egress[1]; rule.Ports[0].Port.IntValue() != 443 || len(rule.To) != 1 || rule.To[0].PodSelector == nil || len(rule.To[0].PodSelector.MatchLabels) != 0 {
			t.Fatalf("https upstream rule = %+v", rule)
		}
		// Without a restriction on egress no egress rule is rendered (it
		// would be ignored under policyTypes [Ingress]).
		r = render(t, "--set", "upstream.metadataUrl=http://m:5002", "--set", "networkPolicy.enabled=true")
		if len(r.netpol.Spec.Egress) != 0 || fmt.Sprint(r.netpol.Spec.PolicyTypes) != "[Ingress]" {
			t.Fatalf("egress without restriction: %+v", r.netpol.Spec)
		}
		if _, ok := render(t).configMap.Data["METADATA_UPSTREAM_URL"]; ok {
			t.Fatal("METADATA_UPSTREAM_URL set by default")
		}
	})

	t.Run("embedded with persistence uses a claim", func(t *testing.T) {
		r := render(t, "-f", "testdata/embedded-persistent.yaml")
		if r.pvc == nil || r.pvc.Spec.Resources.Requests.Storage().String() != "2Gi" {
			t.Fatalf("pvc = %+v", r.pvc)
		}
		var claim string
		for _, v := range r.deployment.Spec.Template.Spec.Volumes {
			if v.Name == "data" && v.PersistentVolumeClaim != nil {
				claim = v.PersistentVolumeClaim.ClaimName
			}
		}
		if claim != r.pvc.Name {
			t.Fatalf("data volume claim %q, pvc %q", claim, r.pvc.Name)
		}
	})
}

// TestDirectories: each directory's settings reach the ConfigMap, its
// secrets a read-only file from the right Secret and key.
func TestDirectories(t *testing.T) {
	type file struct{ secret, key, inline string }
	for _, tt := range []struct {
		values string
		env    map[string]string
		absent []string        // ConfigMap keys that must not be set
		files  map[string]file // *_FILE setting -> its source; secret "" = the chart's
	}{
		{
			values: "testdata/entra.yaml",
			env: map[string]string{"DIRECTORY": "entra", "ENTRA_TENANT_ID": "7d1b2c3e-0a4f-4e5d-9c8b-1a2b3c4d5e6f",
				"ENTRA_CLIENT_ID": "2f8e4a6c-1b3d-4c5e-8f9a-0b1c2d3e4f5a", "ENTRA_GRAPH_URL": "https://graph.microsoft.us",
				"ENTRA_LOGIN_URL": "https://login.microsoftonline.us"},
			files: map[string]file{"ENTRA_CLIENT_SECRET_FILE": {"", "entra-client-secret", "entra-cl13nt-s3cret~value"}},
		},
		{
			values: "testdata/entra-existing-secret.yaml",
			env: map[string]string{"DIRECTORY": "entra", "ENTRA_TENANT_ID": "contoso.onmicrosoft.com",
				"ENTRA_CLIENT_ID": "2f8e4a6c-1b3d-4c5e-8f9a-0b1c2d3e4f5a", "ENTRA_GRAPH_URL": "https://graph.microsoft.com", "ENTRA_LOGIN_URL": "https://login.microsoftonline.com"},
			files: map[string]file{"ENTRA_CLIENT_SECRET_FILE": {"usersvc-entra", "client-secret", ""}},
		},
		{
			values: "testdata/google.yaml",
			env: map[string]string{"DIRECTORY": "google", "GOOGLE_ADMIN_SUBJECT": "admin@example.com", "GOOGLE_CUSTOMER": "C03az79cb",
				"GOOGLE_DIRECTORY_URL": "https://admin.googleapis.com/"},
			files: map[string]file{"GOOGLE_CREDENTIALS_FILE": {"", "google-credentials.json", "g00gle-pr1vate-key"}},
		},
		{
			values: "testdata/google-existing-secret.yaml",
			env: map[string]string{"DIRECTORY": "google", "GOOGLE_ADMIN_SUBJECT": "admin@example.com", "GOOGLE_CUSTOMER": "my_customer",
				"GOOGLE_DIRECTORY_URL": "https://admin.googleapis.com/"},
			files: map[string]file{"GOOGLE_CREDENTIALS_FILE": {"usersvc-google", "credentials.json", ""}},
		},
		{
			values: "testdata/ldap.yaml",
			env: map[string]string{
				"DIRECTORY":        "ldap",
				"LDAP_URL":         "ldaps://dc1.corp.example.com",
				"LDAP_START_TLS":   "false",
				"LDAP_BIND_DN":     "CN=usersvc,OU=Service Accounts,DC=corp,DC=example,DC=com",
				"LDAP_BASE_DN":     "OU=People,DC=corp,DC=example,DC=com",
				"LDAP_USER_FILTER": "(&(objectClass=user)(!(objectClass=computer))(memberOf=CN=Staff,OU=Groups,DC=corp,DC=example,DC=com))",
				"LDAP_FLAVOR":      "ad",
				// resolution.* and sync.* (testdata/ldap.yaml): rendered for any directory.
				"OKTA_REQUEST_TIMEOUT":        "2500ms",
				"NEGATIVE_CACHE_TTL":          "10m",
				"SYNC_INTERVAL":               "6h",
				"SYNC_MAX_DEACTIVATE_PERCENT": "20",
				"SYNC_TEAM_OVERWRITE":         "true",
				"SYNC_LEASE_TTL":              "15m",
			},
			files: map[string]file{"LDAP_BIND_PASSWORD_FILE": {"", "ldap-bind-password", "ld4p-b1nd-passw0rd"}, "LDAP_CA_FILE": {"corp-ca", "ca.crt", ""}},
		},
		{
			values: "testdata/ldap-existing-secret.yaml",
			env: map[string]string{"DIRECTORY": "ldap", "LDAP_URL": "ldap://openldap.directory.svc.cluster.local:1389", "LDAP_START_TLS": "true",
				"LDAP_BIND_DN": "cn=usersvc,ou=services,dc=example,dc=com", "LDAP_BASE_DN": "ou=people,dc=example,dc=com", "LDAP_FLAVOR": "openldap"},
			absent: []string{"LDAP_USER_FILTER"},
			files:  map[string]file{"LDAP_BIND_PASSWORD_FILE": {"usersvc-ldap", "bind-password", ""}, "LDAP_CA_FILE": {"openldap-ca", "ca.crt", ""}},
		},
	} {
		t.Run(strings.TrimSuffix(filepath.Base(tt.values), ".yaml"), func(t *testing.T) {
			r := render(t, "-f", tt.values)
			cm := r.configMap.Data
			// The settings every directory shares, at their defaults unless
			// the scenario sets them; SYNC_INTERVAL only when set.
			wantEnv := maps.Clone(sharedDefaults)
			maps.Copy(wantEnv, tt.env)
			for k, v := range wantEnv {
				if cm[k] != v {
					t.Errorf("ConfigMap %s = %q, want %q", k, cm[k], v)
				}
			}
			// Only the chosen directory's settings: usersvc exits 2 on another's.
			for k := range cm {
				if (strings.HasPrefix(k, "OKTA_") || strings.HasPrefix(k, "ENTRA_") || strings.HasPrefix(k, "GOOGLE_") || strings.HasPrefix(k, "LDAP_") || strings.HasPrefix(k, "SYNC_")) && wantEnv[k] == "" {
					t.Errorf("ConfigMap sets %s=%q, which is not the %s directory's", k, cm[k], cm["DIRECTORY"])
				}
			}
			for _, k := range tt.absent {
				if _, ok := cm[k]; ok {
					t.Errorf("ConfigMap sets %s", k)
				}
			}
			env := map[string]corev1.EnvVar{}
			for _, e := range r.container(t).Env {
				env[e.Name] = e
			}
			for name, want := range tt.files {
				if _, ok := cm[name]; ok {
					t.Errorf("%s is in the ConfigMap; the container's env sets it beside the mount", name)
				}
				e, ok := env[name]
				if !ok || e.ValueFrom != nil || !strings.HasPrefix(e.Value, "/etc/usersvc/") {
					t.Fatalf("%s = %+v, want the path of a mounted file", name, e)
				}
				src, ok := r.fileSource(t, e.Value)
				if !ok {
					t.Fatalf("%s=%s is not on a Secret volume", name, e.Value)
				}
				if want.secret == "" {
					want.secret = r.deployment.Name
				}
				if src.secret != want.secret || src.key != want.key {
					t.Errorf("%s: from Secret %s key %s, want Secret %s key %s", name, src.secret, src.key, want.secret, want.key)
				}
				if src.mode != 0o440 {
					t.Errorf("%s: mode %#o, want 0440", name, src.mode)
				}
				if want.inline != "" && (r.secret == nil || !strings.Contains(string(r.secret.Data[src.key]), want.inline)) {
					t.Errorf("%s: the chart's Secret does not hold the inline value under %s", name, src.key)
				}
			}
			// The chart's Secret holds the inline values only (and the
			// scenario's Neo4j password); with existing Secrets none is rendered.
			var want []string
			for _, f := range tt.files {
				if f.inline != "" {
					want = append(want, f.key)
				}
			}
			if r.configMap.Data["PROXY_HOST"] != "" {
				want = append(want, "CREDENTIALS_PROXY_PASSWORD")
			}
			slices.Sort(want)
			switch {
			case len(want) == 0 && r.secret != nil:
				t.Errorf("a Secret was rendered although existing ones are named: %v", keys(r.secret.Data))
			case len(want) > 0 && (r.secret == nil || !slices.Equal(keys(r.secret.Data), want)):
				t.Errorf("the chart's Secret = %v, want keys %v", r.secret, want)
			}
		})
	}

	t.Run("default: okta when okta.enabled, else DIRECTORY unset", func(t *testing.T) {
		if d, ok := render(t).configMap.Data["DIRECTORY"]; ok {
			t.Fatalf("DIRECTORY=%q by default; the service picks its own", d)
		}
		if d := render(t, "--set", "directory=off").configMap.Data["DIRECTORY"]; d != "off" {
			t.Fatalf("directory=off: DIRECTORY=%q", d)
		}
		a := render(t, "-f", "testdata/everything.yaml")
		b := render(t, "-f", "testdata/everything.yaml", "--set", "directory=okta")
		if a.configMap.Data["DIRECTORY"] != "okta" || fmt.Sprint(a.configMap.Data) != fmt.Sprint(b.configMap.Data) {
			t.Fatalf("okta.enabled: DIRECTORY=%q; with directory=okta the ConfigMap differs", a.configMap.Data["DIRECTORY"])
		}
	})

	t.Run("the other directories' values are not rendered", func(t *testing.T) {
		r := render(t, "-f", "testdata/entra.yaml", "--set", "ldap.url=ldap://x", "--set", "ldap.bindPassword=p", "--set", "google.credentialsJson=k")
		for k := range r.configMap.Data {
			if strings.HasPrefix(k, "LDAP_") || strings.HasPrefix(k, "GOOGLE_") {
				t.Fatalf("directory entra renders %s", k)
			}
		}
		if len(r.secret.Data) != 2 || r.secret.Data["entra-client-secret"] == nil {
			t.Fatalf("the chart's Secret holds %v", keys(r.secret.Data))
		}
		if len(r.container(t).VolumeMounts) != 2 { // tmp and the client secret
			t.Fatalf("mounts = %+v", r.container(t).VolumeMounts)
		}
	})

	t.Run("an anonymous LDAP bind mounts no password", func(t *testing.T) {
		r := render(t, "--set", "directory=ldap", "--set", "ldap.url=ldap://ldap.example.com", "--set", "ldap.baseDn=dc=example\\,dc=com")
		for _, e := range r.container(t).Env {
			if strings.HasPrefix(e.Name, "LDAP_") {
				t.Fatalf("env %s set for an anonymous bind without a CA", e.Name)
			}
		}
		if r.secret != nil || r.configMap.Data["LDAP_START_TLS"] != "false" || r.configMap.Data["LDAP_FLAVOR"] != "openldap" {
			t.Fatalf("secret %v, env %v", r.secret, r.configMap.Data)
		}
	})

	t.Run("egress to the directory", func(t *testing.T) {
		ports := func(r rendered) []string {
			var out []string
			for _, rule := range r.netpol.Spec.Egress {
				for _, p := range rule.Ports {
					out = append(out, p.Port.String())
				}
			}
			return out
		}
		for _, tt := range []struct {
			args []string
			want string
		}{
			{[]string{"-f", "testdata/entra.yaml"}, "443"},
			{[]string{"-f", "testdata/google.yaml", "--set", "networkPolicy.enabled=true", "--set", "networkPolicy.egress.enabled=true"}, "443"},
			{[]string{"-f", "testdata/ldap.yaml"}, "636"},
			{[]string{"-f", "testdata/ldap.yaml", "--set", "ldap.url=ldaps://dc1.corp.example.com:3269"}, "3269"},
			{[]string{"-f", "testdata/ldap-existing-secret.yaml", "--set", "networkPolicy.enabled=true", "--set", "networkPolicy.egress.enabled=true"}, "1389"},
			{[]string{"-f", "testdata/ldap.yaml", "--set", "ldap.url=ldap://dc1", "--set", "ldap.startTLS=true"}, "389"},
		} {
			if got := ports(render(t, tt.args...)); !slices.Contains(got, tt.want) {
				t.Errorf("%v: egress ports %v, want %s among them", tt.args, got, tt.want)
			}
		}
		if got := ports(render(t, "-f", "testdata/ldap.yaml")); slices.Contains(got, "443") {
			t.Errorf("ldap without oidc opens 443: %v", got)
		}
	})
}

// sharedDefaults are the settings of every directory (resolution.*, sync.*)
// at their chart defaults: OKTA_REQUEST_TIMEOUT is the deadline of one
// lookup whatever the directory, and the sync runs with any that can list.
var sharedDefaults = map[string]string{"OKTA_REQUEST_TIMEOUT": "2s", "NEGATIVE_CACHE_TTL": "5m",
	"SYNC_MAX_DEACTIVATE_PERCENT": "10", "SYNC_TEAM_OVERWRITE": "false", "SYNC_LEASE_TTL": "10m"}

// TestSharedDirectorySettings: resolution.* and sync.* reach every
// directory; with Okta an okta.* value still wins when it differs from its
// default, so existing Okta values files render exactly as before.
func TestSharedDirectorySettings(t *testing.T) {
	shared := func(cm map[string]string) map[string]string {
		out := map[string]string{}
		for k, v := range cm {
			if k == "OKTA_REQUEST_TIMEOUT" || k == "NEGATIVE_CACHE_TTL" || strings.HasPrefix(k, "SYNC_") {
				out[k] = v
			}
		}
		return out
	}
	neutral := []string{"--set", "resolution.requestTimeout=3s", "--set", "resolution.negativeCacheTTL=1m", "--set", "sync.interval=2h",
		"--set", "sync.maxDeactivatePercent=50", "--set-string", "sync.teamGroupPattern=^grp-(.+)$", "--set", "sync.teamOverwrite=true", "--set", "sync.leaseTTL=20m"}
	for _, tt := range []struct {
		name string
		args []string
		want map[string]string
	}{
		{"google: the defaults", []string{"-f", "testdata/google.yaml"}, sharedDefaults},
		{"entra with every shared value", append([]string{"-f", "testdata/entra.yaml"}, neutral...), map[string]string{"OKTA_REQUEST_TIMEOUT": "3s", "NEGATIVE_CACHE_TTL": "1m",
			"SYNC_INTERVAL": "2h", "SYNC_MAX_DEACTIVATE_PERCENT": "50", "SYNC_TEAM_GROUP_PATTERN": "^grp-(.+)$", "SYNC_TEAM_OVERWRITE": "true", "SYNC_LEASE_TTL": "20m"}},
		{"okta.* is ignored with another directory", []string{"-f", "testdata/ldap-existing-secret.yaml", "--set", "okta.sync.interval=1h", "--set", "okta.requestTimeout=9s"}, sharedDefaults},
		{"okta: the shared block where okta.* keeps its default", append([]string{"-f", "testdata/existing-secret.yaml"}, neutral...), map[string]string{"OKTA_REQUEST_TIMEOUT": "3s", "NEGATIVE_CACHE_TTL": "1m",
			"SYNC_INTERVAL": "2h", "SYNC_MAX_DEACTIVATE_PERCENT": "50", "SYNC_TEAM_GROUP_PATTERN": "^grp-(.+)$", "SYNC_TEAM_OVERWRITE": "true", "SYNC_LEASE_TTL": "20m"}},
		// everything.yaml sets okta.negativeCacheTTL and okta.sync.* (all
		// but teamOverwrite) away from their defaults; requestTimeout: 2s is the default.
		{"okta: an okta.* value set away from its default wins", append([]string{"-f", "testdata/everything.yaml"}, neutral...), map[string]string{"OKTA_REQUEST_TIMEOUT": "3s", "NEGATIVE_CACHE_TTL": "10m",
			"SYNC_INTERVAL": "1h", "SYNC_MAX_DEACTIVATE_PERCENT": "5", "SYNC_TEAM_GROUP_PATTERN": "^team-(.+)$", "SYNC_TEAM_OVERWRITE": "true", "SYNC_LEASE_TTL": "15m"}},
		{"no directory: none", []string{"--set", "sync.interval=1h"}, map[string]string{}},
		{"directory off: none", []string{"--set", "directory=off", "--set", "sync.interval=1h"}, map[string]string{}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := shared(render(t, tt.args...).configMap.Data); !maps.Equal(got, tt.want) {
				t.Errorf("shared settings = %v\nwant %v", got, tt.want)
			}
		})
	}

	// The Okta scenarios' ConfigMaps are byte for byte those rendered before
	// resolution.* and sync.* existed (testdata/golden), so checksum/config
	// does not roll existing installs. UPDATE_GOLDEN=1 rewrites them.
	for _, name := range []string{"everything", "existing-secret"} {
		t.Run("golden "+name, func(t *testing.T) {
			got, err := runHelm(t, "template", "rel", chartDir, "--namespace", "catalog", "-f", "testdata/"+name+".yaml", "-s", "templates/configmap.yaml")
			if err != nil {
				t.Fatal(err)
			}
			golden := "testdata/golden/" + name + ".configmap.yaml"
			if os.Getenv("UPDATE_GOLDEN") != "" {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatal(err)
			}
			if got != string(want) {
				t.Errorf("the ConfigMap of %s differs from %s (existing installs would roll):\n%s", name, golden, got)
			}
		})
	}
}

func keys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// TestDirectoryMistakesFail: what usersvc would exit 2 on fails the
// install, naming the values to fix.
func TestDirectoryMistakesFail(t *testing.T) {
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"-f", "testdata/everything.yaml", "--set", "directory=entra"}, "okta.enabled is true but directory is entra"},
		{[]string{"-f", "testdata/everything.yaml", "--set", "directory=off"}, "okta.enabled is true but directory is off"},
		{[]string{"--set", "directory=okta"}, "directory is okta: set okta.enabled"},
		{[]string{"-f", "testdata/entra.yaml", "--set", "entra.tenantId="}, "set entra.tenantId and entra.clientId"},
		{[]string{"-f", "testdata/entra.yaml", "--set", "entra.clientSecret="}, "set entra.existingSecret (a Secret with key client-secret) or entra.clientSecret"},
		{[]string{"-f", "testdata/google.yaml", "--set", "google.adminSubject="}, "set google.adminSubject"},
		{[]string{"-f", "testdata/google.yaml", "--set", "google.credentialsJson="}, "set google.existingSecret (a Secret with key credentials.json)"},
		{[]string{"-f", "testdata/ldap.yaml", "--set", "ldap.baseDn="}, "set ldap.url and ldap.baseDn"},
		{[]string{"-f", "testdata/ldap.yaml", "--set", "ldap.bindPassword="}, "ldap.bindDn is set: set ldap.existingSecret"},
		{[]string{"-f", "testdata/ldap.yaml", "--set", "ldap.bindDn="}, "without ldap.bindDn"},
		{[]string{"-f", "testdata/ldap.yaml", "--set", "ldap.startTLS=true"}, "ldap.startTLS cannot be used with an ldaps://"},
		{[]string{"-f", "testdata/ldap.yaml", "--set", "ldap.url=ldap://dc1"}, "ldap.caSecret is set but the connection is not TLS"},
	} {
		out, err := runHelm(t, append([]string{"template", "rel", chartDir}, tt.args...)...)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("helm template %v: %v, want an error saying %q\n%s", tt.args, err, tt.want, out)
		}
	}
}

func TestChecksumsFollowConfig(t *testing.T) {
	a := render(t)
	b := render(t, "--set", "log.level=debug")
	c := render(t, "--set", "proxy.host=bolt://db", "--set", "proxy.password=x")
	if a.deployment.Spec.Template.Annotations["checksum/config"] == b.deployment.Spec.Template.Annotations["checksum/config"] {
		t.Fatal("a config change does not change checksum/config")
	}
	if a.deployment.Spec.Template.Annotations["checksum/secret"] == c.deployment.Spec.Template.Annotations["checksum/secret"] {
		t.Fatal("a secret change does not change checksum/secret")
	}
	// The directories' secrets are files, re-read only at start: a new
	// inline value must roll the pods too.
	for _, set := range []string{"entra.clientSecret=rotated", "google.credentialsJson=rotated", "ldap.bindPassword=rotated"} {
		values := "testdata/" + strings.SplitN(set, ".", 2)[0] + ".yaml"
		before, after := render(t, "-f", values), render(t, "-f", values, "--set", set)
		if before.deployment.Spec.Template.Annotations["checksum/secret"] == after.deployment.Spec.Template.Annotations["checksum/secret"] {
			t.Errorf("%s does not change checksum/secret", set)
		}
	}
}

func TestSchemaRejectsBadValues(t *testing.T) {
	for _, args := range [][]string{
		{"--set", "replicas=two"},
		{"--set", "surprise=1"},
		{"--set", "oidc.enabled=true"}, // no FLASK_OIDC_CONFIG_URL
		{"--set", "oidc.enabled=true", "--set", "oidc.configs.FLASK_OIDC_CONFIG_URL=https://x", "--set", "oidc.configs.FLASK_OIDC_CONFIG_UR=typo"},
		{"--set", "okta.enabled=true"}, // no orgUrl
		{"--set", "okta.authorizationMode=Password"},
		{"--set", "proxy.host=http://neo4j"},
		{"--set", "service.port=70000"},
		{"--set", "log.level=loud"},
		{"--set", "autoscaling.enabled=true"}, // the embedded store cannot scale
		{"--set", "metrics.port=5002"},        // never the API port
		{"--set", "corsAllowedOrigins[0]=amundsen.example.com"},
		{"--set", "upstream.metadataUrl=amundsen-metadata:5002"},
		{"--set", "upstream.metadataUrl=http://amundsen-metadata:5002/?x=1"},
		{"--set", "upstream.maxBody=10MB"},
		{"--set", "upstream.timeout=soon"},
		{"--set", "upstream.forwardAuth=maybe"},
		{"--set", "networkPolicy.egress.surprise=1"},
		{"--set", "directory=azure"},
		{"--set", "directory=file"}, // the file directory is for local runs (extraEnv)
		{"--set", "entra.surprise=1"},
		{"--set", "entra.tenantId=contoso tenant"},
		{"--set", "entra.graphUrl=http://graph.microsoft.com"},
		{"--set", "entra.loginUrl=https://login.microsoftonline.com/?x=1"},
		{"--set", "entra.existingSecret=Usersvc_Entra"},
		{"--set", "google.adminSubject=admin"},
		{"--set", "google.directoryUrl=admin.googleapis.com"},
		{"--set", "google.customer=my customer"},
		{"--set", "google.credentialsJson.type=service_account"}, // a string, not a map
		{"--set", "ldap.url=http://dc1.example.com"},
		{"--set", "ldap.url=ldap://dc1.example.com/dc=example"},
		{"--set", "ldap.url=ldaps://admin:pw@dc1.example.com"},
		{"--set", "ldap.flavor=novell"},
		{"--set", "ldap.startTLS=yes"},
		{"--set", "ldap.userFilter=objectClass=person"},
		{"--set", "ldap.caSecret=Corp CA"},
		{"--set", "resolution.surprise=1"},
		{"--set", "resolution.requestTimeout=2"},
		{"--set", "resolution.negativeCacheTTL=soon"},
		{"--set", "sync.surprise=1"},
		{"--set", "sync.interval=hourly"},
		{"--set", "sync.maxDeactivatePercent=0"},
		{"--set", "sync.maxDeactivatePercent=101"},
		{"--set", "sync.teamOverwrite=maybe"},
		{"--set", "sync.leaseTTL=10"},
	} {
		if _, err := runHelm(t, append([]string{"template", "rel", chartDir}, args...)...); err == nil {
			t.Errorf("helm template %v succeeded, want a validation error", args)
		}
	}
}

// serviceSettings runs `usersvc env` from the service module.
func serviceSettings(t *testing.T) map[string]bool {
	t.Helper()
	cmd := exec.Command("go", "run", "./cmd/usersvc", "env")
	cmd.Dir = ".."
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("usersvc env: %v\n%s", err, stderr.String())
	}
	names := map[string]bool{}
	for _, line := range strings.Split(string(out), "\n")[1:] {
		if f := strings.Fields(line); len(f) > 0 {
			names[f[0]] = true
		}
	}
	if len(names) < 20 {
		t.Fatalf("usersvc env listed only %d settings:\n%s", len(names), out)
	}
	return names
}

// notExposed are settings the chart deliberately does not offer as values;
// extraEnv still reaches them.
var notExposed = map[string]string{
	"EMBEDDED_CATALOG_FILE":             "seeding is for local runs",
	"OKTA_TESTING_DISABLE_HTTPS_CHECK":  "test servers only",
	"FLASK_OIDC_CLIENT_SECRET":          "set from oidc.metadata.client_secret (Secret)",
	"OKTA_CLIENT_PRIVATEKEY":            "set from okta.privateKey (Secret)",
	"OKTA_CLIENT_PRIVATEKEYID":          "set from okta.privateKeyId with PrivateKey mode",
	"OKTA_CLIENT_CLIENTID":              "set from okta.clientId with PrivateKey mode",
	"PROXY_MAX_POOL_SIZE":               "tuning; extraEnv",
	"PROXY_CONNECT_TIMEOUT":             "tuning; extraEnv",
	"PROXY_TX_TIMEOUT":                  "tuning; extraEnv",
	"PROXY_RETRY_TIME":                  "tuning; extraEnv",
	"NEGATIVE_CACHE_SIZE":               "tuning; extraEnv",
	"GRAPH_CACHE_SIZE":                  "tuning; extraEnv",
	"AUTH_DISABLED":                     "set when oidc.enabled is false",
	"FLASK_OIDC_PROVIDER_NAME":          "flaskoidc compatibility; oidc.configs",
	"FLASK_OIDC_REDIRECT_URI":           "flaskoidc compatibility; oidc.configs",
	"FLASK_OIDC_OVERWRITE_REDIRECT_URI": "flaskoidc compatibility; oidc.configs",
	"EMBEDDED_DB_PATH":                  "set when proxy.host is empty",
	"DIRECTORY_FILE":                    "the file directory is for local runs; extraEnv",
	"PPROF_ENABLED":                     "profiling on the metrics port, for a debugging session; extraEnv",
	"OKTA_EVENT_HOOK_SECRET_FILE":       "set as OKTA_EVENT_HOOK_SECRET from okta.eventHook.secret or okta.existingSecret",
	"SCIM_TOKEN_FILE":                   "set as SCIM_TOKEN from scim.token or scim.existingSecret",
}

// TestChartMatchesServiceSettings: every variable the chart sets is one the
// service reads (no silent typos), and every service setting is either set
// by the chart or deliberately left to extraEnv.
func TestChartMatchesServiceSettings(t *testing.T) {
	settings := serviceSettings(t)
	set := map[string]bool{}
	for _, sc := range scenarios {
		r := render(t, valuesArgs(sc.values)...)
		for name := range r.envNames(t) {
			if !settings[name] {
				t.Errorf("%s: the chart sets %s, which usersvc does not read", sc.name, name)
			}
			set[name] = true
		}
	}
	for name := range settings {
		if !set[name] && notExposed[name] == "" {
			t.Errorf("usersvc reads %s but no chart value sets it (add a value or list it in notExposed)", name)
		}
	}
	for name := range notExposed {
		if !settings[name] {
			t.Errorf("notExposed lists %s, which usersvc does not read", name)
		}
	}
}
