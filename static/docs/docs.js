// Renders /api/openapi.json readably, with a small "try it" form per operation.
// Everything is built as DOM nodes and text, never parsed as markup: its strings are data.
"use strict";

(function () {
  const METHODS = ["get", "post", "put", "patch", "delete"];
  const tokenInput = document.getElementById("token");
  let spec = null;

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (key === "class") node.className = value;
      else node.setAttribute(key, value);
    }
    for (const child of children) {
      if (child === null || child === undefined) continue;
      node.append(child instanceof Node ? child : String(child));
    }
    return node;
  }

  function resolve(schema) {
    let current = schema || {};
    for (let depth = 0; current.$ref && depth < 20; depth++) {
      const name = current.$ref.split("/").pop();
      current = (spec.components && spec.components.schemas && spec.components.schemas[name]) || {};
    }
    return current;
  }

  function refName(schema) {
    return schema && schema.$ref ? schema.$ref.split("/").pop() : null;
  }

  function typeOf(schema) {
    if (!schema) return "any";
    const name = refName(schema);
    if (name) return name;
    if (schema.anyOf || schema.oneOf) return (schema.anyOf || schema.oneOf).map(typeOf).join(" | ");
    if (schema.enum) return schema.enum.map((v) => JSON.stringify(v)).join(" | ");
    if (schema.const !== undefined) return JSON.stringify(schema.const);
    if (schema.type === "array") return "array of " + typeOf(schema.items);
    let type = Array.isArray(schema.type) ? schema.type.join(" | ") : schema.type || "object";
    if (schema.format) type += " (" + schema.format + ")";
    return type;
  }

  function constraints(schema) {
    const parts = [];
    const keys = ["minLength", "maxLength", "minimum", "maximum", "minItems", "maxItems", "pattern"];
    for (const key of keys) if (schema[key] !== undefined) parts.push(key + " " + schema[key]);
    if (schema.default !== undefined) parts.push("default " + JSON.stringify(schema.default));
    return parts.join(", ");
  }

  function fieldsTable(schema) {
    const resolved = resolve(schema);
    const properties = resolved.properties || {};
    const required = new Set(resolved.required || []);
    if (!Object.keys(properties).length) return el("p", {}, el("code", {}, typeOf(schema)));
    const rows = Object.entries(properties).map(([name, prop]) =>
      el("tr", {},
        el("td", {}, el("code", {}, name), required.has(name) ? el("span", { class: "req" }, "required") : null),
        el("td", {}, el("code", {}, typeOf(prop))),
        el("td", {}, [prop.description || resolve(prop).description || "", constraints(prop)]
          .filter(Boolean).join(" — "))));
    const title = refName(schema) ? el("p", { class: "muted" }, refName(schema)) : null;
    return el("div", {}, title,
      el("table", {}, el("tr", {}, el("th", {}, "field"), el("th", {}, "type"), el("th", {}, "notes")), ...rows));
  }

  function example(schema, depth) {
    const s = resolve(schema);
    if ((depth || 0) > 4) return null;
    if (s.default !== undefined) return s.default;
    if (s.examples && s.examples.length) return s.examples[0];
    if (s.enum) return s.enum[0];
    if (s.const !== undefined) return s.const;
    if (s.anyOf || s.oneOf) return example((s.anyOf || s.oneOf)[0], (depth || 0) + 1);
    switch (Array.isArray(s.type) ? s.type[0] : s.type) {
      case "string": return s.format === "email" ? "name@example.com" : "string";
      case "integer": case "number": return s.minimum || 0;
      case "boolean": return false;
      case "array": return [];
      case "null": return null;
      default: {
        const out = {};
        for (const name of s.required || Object.keys(s.properties || {})) {
          out[name] = example((s.properties || {})[name], (depth || 0) + 1);
        }
        return out;
      }
    }
  }

  function tryForm(path, method, operation) {
    const params = operation.parameters || [];
    const inputs = params.map((p) => [p, el("input", { "aria-label": p.name, placeholder: p.name })]);
    const body = operation.requestBody
      ? el("textarea", { "aria-label": "request body" },
          JSON.stringify(example(operation.requestBody.content["application/json"].schema), null, 2))
      : null;
    const result = el("pre", { class: "result", hidden: "" });
    const button = el("button", { type: "button" }, "Send");
    button.addEventListener("click", async () => {
      let url = path;
      const query = new URLSearchParams();
      for (const [p, input] of inputs) {
        if (p.in === "path") url = url.replace("{" + p.name + "}", encodeURIComponent(input.value));
        else if (input.value !== "") query.set(p.name, input.value);
      }
      if ([...query].length) url += "?" + query;
      const headers = {};
      if (tokenInput.value.trim()) headers.Authorization = "Bearer " + tokenInput.value.trim();
      if (body) headers["Content-Type"] = "application/json";
      result.hidden = false;
      result.textContent = method.toUpperCase() + " " + url + " …";
      try {
        const response = await fetch(url, { method: method.toUpperCase(), headers, body: body ? body.value : undefined });
        const text = await response.text();
        let shown = text;
        try { shown = JSON.stringify(JSON.parse(text), null, 2); } catch (_) { /* not JSON */ }
        result.textContent = response.status + " " + response.statusText + "\n\n" + shown;
      } catch (error) {
        result.textContent = "request failed: " + error;
      }
    });
    return el("div", { class: "try" }, el("h4", {}, "Try it"),
      ...inputs.map(([p, input]) => el("p", {}, el("code", {}, p.in + " " + p.name + " "), input)),
      body, el("div", {}, button), result);
  }

  function operationView(path, method, operation) {
    const secured = operation.security ? operation.security.length > 0 : (spec.security || []).length > 0;
    const summary = el("summary", {},
      el("span", { class: "method " + method }, method.toUpperCase()),
      el("code", {}, path),
      el("span", {}, operation.summary || ""),
      secured ? el("span", { class: "lock", title: "needs a bearer token" }, "🔒 bearer") : null);
    const parts = [];
    if (operation.description) parts.push(el("p", {}, operation.description));
    if ((operation.parameters || []).length) {
      parts.push(el("h4", {}, "Parameters"), el("table", {},
        el("tr", {}, el("th", {}, "name"), el("th", {}, "in"), el("th", {}, "type")),
        ...operation.parameters.map((p) => el("tr", {},
          el("td", {}, el("code", {}, p.name), p.required ? el("span", { class: "req" }, "required") : null),
          el("td", {}, p.in), el("td", {}, el("code", {}, typeOf(p.schema)))))));
    }
    if (operation.requestBody) {
      parts.push(el("h4", {}, "Request body"), fieldsTable(operation.requestBody.content["application/json"].schema));
    }
    parts.push(el("h4", {}, "Responses"));
    for (const [status, response] of Object.entries(operation.responses || {})) {
      const content = response.content && response.content["application/json"];
      parts.push(el("p", {}, el("span", { class: "status" }, status + " "), response.description || ""));
      if (content && status.startsWith("2")) parts.push(fieldsTable(content.schema));
    }
    parts.push(tryForm(path, method, operation));
    return el("details", { class: "op", id: operation.operationId || "" }, summary, el("div", { class: "body" }, ...parts));
  }

  function render() {
    document.title = (spec.info.title || "API") + " documentation";
    document.getElementById("title").textContent = (spec.info.title || "API") + " " + (spec.info.version || "");
    document.getElementById("description").textContent = spec.info.description || "";
    const groups = new Map();
    for (const [path, item] of Object.entries(spec.paths || {})) {
      for (const method of METHODS) {
        if (!item[method]) continue;
        const tag = (item[method].tags || ["other"])[0];
        if (!groups.has(tag)) groups.set(tag, []);
        groups.get(tag).push(operationView(path, method, item[method]));
      }
    }
    const main = document.getElementById("operations");
    const toc = document.getElementById("toc");
    main.replaceChildren();
    for (const [tag, views] of groups) {
      main.append(el("h2", { class: "tag", id: "tag-" + tag }, tag), ...views);
      toc.append(el("a", { href: "#tag-" + tag }, tag));
    }
    const errorSchema = spec.components && spec.components.schemas && spec.components.schemas.Error;
    if (errorSchema) {
      main.append(el("h2", { class: "tag", id: "tag-errors" }, "errors"),
        el("p", {}, errorSchema.description || ""), fieldsTable({ $ref: "#/components/schemas/Error" }));
      toc.append(el("a", { href: "#tag-errors" }, "errors"));
    }
  }

  tokenInput.value = sessionStorage.getItem("chatbot-docs-token") || "";
  tokenInput.addEventListener("input", () => sessionStorage.setItem("chatbot-docs-token", tokenInput.value));
  document.getElementById("auth").addEventListener("submit", (event) => event.preventDefault());

  fetch("/api/openapi.json")
    .then((response) => {
      if (!response.ok) throw new Error("HTTP " + response.status);
      return response.json();
    })
    .then((document_) => { spec = document_; render(); })
    .catch((error) => {
      document.getElementById("operations").replaceChildren(
        el("p", { class: "error" }, "Could not load /api/openapi.json: " + error.message));
    });
})();
