/**
 * Test helper: Kubernetes objects checked against the published schemas, through the typed
 * models on the npm registry (kubernetes-models and its Gateway API and Istio packages). An
 * object of a kind not listed here fails: nothing passes unchecked.
 */
import { HTTPRoute } from '@kubernetes-models/gateway-api/gateway.networking.k8s.io/v1/HTTPRoute';
import { VirtualService } from '@kubernetes-models/istio/networking.istio.io/v1/VirtualService';
import { Deployment } from 'kubernetes-models/apps/v1/Deployment';
import { HorizontalPodAutoscaler } from 'kubernetes-models/autoscaling/v2/HorizontalPodAutoscaler';
import { Ingress } from 'kubernetes-models/networking.k8s.io/v1/Ingress';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1/PodDisruptionBudget';
import { ConfigMap } from 'kubernetes-models/v1/ConfigMap';
import { Secret } from 'kubernetes-models/v1/Secret';
import { Service } from 'kubernetes-models/v1/Service';

type Validating = { validate(): void };

const MODELS: Record<string, (data: never) => Validating> = {
  'gateway.networking.k8s.io/v1/HTTPRoute': (d) => new HTTPRoute(d),
  'networking.istio.io/v1/VirtualService': (d) => new VirtualService(d),
  'networking.k8s.io/v1/Ingress': (d) => new Ingress(d),
  'apps/v1/Deployment': (d) => new Deployment(d),
  'autoscaling/v2/HorizontalPodAutoscaler': (d) => new HorizontalPodAutoscaler(d),
  'policy/v1/PodDisruptionBudget': (d) => new PodDisruptionBudget(d),
  'v1/ConfigMap': (d) => new ConfigMap(d),
  'v1/Secret': (d) => new Secret(d),
  'v1/Service': (d) => new Service(d),
};

/** Throws with the schema's words when the object is invalid, or when its kind has no model here. */
export function validateManifest(object: { apiVersion?: unknown; kind?: unknown }): void {
  const key = `${String(object.apiVersion)}/${String(object.kind)}`;
  const model = MODELS[key];
  if (!model) throw new Error(`no schema model for ${key}: expected one of ${Object.keys(MODELS).join(', ')}`);
  // The models copy their input; validate() checks it against the OpenAPI/CRD schema.
  model(structuredClone(object) as never).validate();
  // The schemas leave object names to the API server: check them as it would (DNS-1123 subdomain).
  const name = (object as { metadata?: { name?: unknown } }).metadata?.name;
  if (typeof name !== 'string' || name.length > 253 || !/^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/.test(name)) {
    throw new Error(`${key}: metadata.name ${JSON.stringify(name)} is not a DNS-1123 subdomain`);
  }
}
