import type { Child } from "hono/jsx";
import { CSRF_FIELD } from "../csrf";
import type { FormErrors } from "../forms";
import type { PageContext } from "../middleware";

export function CsrfField(props: { page: PageContext }) {
  return <input type="hidden" name={CSRF_FIELD} value={props.page.csrf} />;
}

type FieldProps = {
  /** Prefix of the element ids, unique per form on the page. */
  form: string;
  name: string;
  label: string;
  errors?: FormErrors;
  value?: string;
  type?: "text" | "tel" | "email" | "password";
  hint?: Child;
  optional?: string;
  autocomplete?: string;
  inputmode?: "text" | "tel" | "numeric" | "email";
  required?: boolean;
  class?: string;
  maxlength?: number;
  spellcheck?: boolean;
  autocapitalize?: "off" | "characters" | "words";
};

/**
 * A labelled input with its hint and, when the last post failed on it, its error right above
 * the box (`aria-invalid`, `aria-describedby`). The first invalid field of a form gets the focus.
 */
export function Field(props: FieldProps) {
  const id = `${props.form}-${props.name.replace(/_/g, "-")}`;
  const error = props.errors?.fields[props.name];
  const describedBy = [props.hint ? `${id}-hint` : "", error ? `${id}-error` : ""].filter(Boolean).join(" ");
  return (
    <div class="field">
      <label for={id}>
        {props.label}
        {props.optional ? <span class="optional"> ({props.optional})</span> : null}
      </label>
      {props.hint ? (
        <p class="hint" id={`${id}-hint`}>
          {props.hint}
        </p>
      ) : null}
      {error ? (
        <p class="error" id={`${id}-error`}>
          {error}
        </p>
      ) : null}
      <input
        id={id}
        name={props.name}
        type={props.type ?? "text"}
        value={props.value ?? ""}
        class={props.class}
        autocomplete={props.autocomplete}
        inputmode={props.inputmode}
        required={props.required}
        maxlength={props.maxlength}
        spellcheck={props.spellcheck}
        autocapitalize={props.autocapitalize}
        aria-invalid={error ? "true" : undefined}
        aria-describedby={describedBy || undefined}
        autofocus={props.errors?.focus === props.name}
      />
    </div>
  );
}

/** A form-level error (one that concerns no single field), announced when the page loads. */
export function FormAlert(props: { page: PageContext; errors?: FormErrors }) {
  const message = props.errors?.form;
  if (!message) return null;
  return (
    <div class="alert error-box" role="alert">
      <h2>{props.page.t.form.problemTitle}</h2>
      <p>{message}</p>
    </div>
  );
}

/** A success or information note after a redirect. */
export function Notice(props: { message?: string }) {
  if (!props.message) return null;
  return (
    <div class="alert ok" role="status">
      {props.message}
    </div>
  );
}
