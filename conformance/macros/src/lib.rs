//! The proc macro behind `authstore_conformance::conformance_suite!`; use it through
//! that re-export, which is where its documentation lives.
//!
//! It reads the scenario catalogue (`authstore_scenarios::catalogue()`) while it expands,
//! so the generated test list is the catalogue's, and rebuilding after the catalogue
//! changes regenerates it.

use authstore_spec::{Capabilities, Capability};
use proc_macro::TokenStream;
use proc_macro2::{Span, TokenStream as TokenStream2};
use quote::quote;
use syn::parse::{Parse, ParseStream};
use syn::punctuated::Punctuated;
use syn::{Expr, Ident, Token, bracketed, parse_macro_input};

/// One test per catalogue scenario against a backend factory.
///
/// `conformance_suite!(NAME, FACTORY [, capabilities = [..]] [, timing = EXPR]
/// [, timeout = EXPR])` expands to `#[cfg(test)] mod NAME { .. }` holding one
/// multi-thread tokio test per scenario, named after the scenario id. See
/// `authstore_conformance::conformance_suite!` for the full documentation.
#[proc_macro]
pub fn conformance_suite(input: TokenStream) -> TokenStream {
    let input = parse_macro_input!(input as SuiteInput);
    expand(&input).into()
}

/// The parsed arguments.
struct SuiteInput {
    name: Ident,
    factory: Expr,
    capabilities: Option<Vec<(Capability, Ident)>>,
    timing: Option<Expr>,
    timeout: Option<Expr>,
}

impl Parse for SuiteInput {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        let name: Ident = input.parse()?;
        input.parse::<Token![,]>()?;
        let factory: Expr = input.parse()?;
        let mut parsed = SuiteInput {
            name,
            factory,
            capabilities: None,
            timing: None,
            timeout: None,
        };
        while !input.is_empty() {
            input.parse::<Token![,]>()?;
            if input.is_empty() {
                break;
            }
            let key: Ident = input.parse()?;
            input.parse::<Token![=]>()?;
            let duplicate =
                || syn::Error::new(key.span(), format!("option `{key}` is given twice"));
            match key.to_string().as_str() {
                "capabilities" => {
                    if parsed.capabilities.is_some() {
                        return Err(duplicate());
                    }
                    parsed.capabilities = Some(parse_capabilities(input)?);
                }
                "timing" => {
                    if parsed.timing.is_some() {
                        return Err(duplicate());
                    }
                    parsed.timing = Some(input.parse()?);
                }
                "timeout" => {
                    if parsed.timeout.is_some() {
                        return Err(duplicate());
                    }
                    parsed.timeout = Some(input.parse()?);
                }
                other => {
                    return Err(syn::Error::new(
                        key.span(),
                        format!(
                            "unknown option `{other}`; expected `capabilities = [..]`, \
                             `timing = <TimingProfile>` or `timeout = <Duration>`"
                        ),
                    ));
                }
            }
        }
        Ok(parsed)
    }
}

/// `[expiry, concurrency, large_values, multi_handle, capacity, namespaces, default_ttl,
/// value_limit, introspection]`, any subset, any order.
fn parse_capabilities(input: ParseStream<'_>) -> syn::Result<Vec<(Capability, Ident)>> {
    let content;
    bracketed!(content in input);
    let idents = Punctuated::<Ident, Token![,]>::parse_terminated(&content)?;
    let mut capabilities: Vec<(Capability, Ident)> = Vec::new();
    for ident in idents {
        let capability = match ident.to_string().as_str() {
            "expiry" => Capability::Expiry,
            "concurrency" => Capability::Concurrency,
            "large_values" => Capability::LargeValues,
            "multi_handle" => Capability::MultiHandle,
            "capacity" => Capability::Capacity,
            "namespaces" => Capability::Namespaces,
            "default_ttl" => Capability::DefaultTtl,
            "value_limit" => Capability::ValueLimit,
            "introspection" => Capability::Introspection,
            other => {
                return Err(syn::Error::new(
                    ident.span(),
                    format!(
                        "unknown capability `{other}`; expected expiry, concurrency, \
                         large_values, multi_handle, capacity, namespaces, default_ttl, \
                         value_limit or introspection"
                    ),
                ));
            }
        };
        if capabilities.iter().any(|(c, _)| *c == capability) {
            return Err(syn::Error::new(
                ident.span(),
                format!("capability `{ident}` is listed twice"),
            ));
        }
        capabilities.push((capability, ident));
    }
    Ok(capabilities)
}

fn expand(input: &SuiteInput) -> TokenStream2 {
    let claimed: Capabilities = match &input.capabilities {
        Some(list) => list.iter().map(|(c, _)| *c).collect(),
        None => Capabilities::CORE,
    };
    let claimed_tokens = capabilities_tokens(claimed);
    let timing = match &input.timing {
        Some(expr) => quote!(#expr),
        None => quote!(::authstore_conformance::__private::TimingProfile::IN_PROCESS),
    };
    let timeout = match &input.timeout {
        Some(expr) => quote!(#expr),
        None => quote!(::authstore_conformance::DEFAULT_TIMEOUT),
    };
    let name = &input.name;
    let suite_name = name.to_string();
    let factory = &input.factory;

    let tests = authstore_scenarios::catalogue()
        .into_iter()
        .map(|scenario| {
            let id = scenario.id;
            let test_name = Ident::new(id, Span::call_site());
            let missing = claimed.missing(scenario.needs);
            let ignore = if missing.is_empty() {
                quote!()
            } else {
                let names: Vec<&str> = missing.iter().map(|c| c.name()).collect();
                let reason = format!("not claimed: needs {}", names.join(", "));
                quote!(#[ignore = #reason])
            };
            let doc = format!(
                "`{id}`: {} ({})",
                scenario.summary,
                scenario.clauses.join(", ")
            );
            quote! {
                #[doc = #doc]
                #[::authstore_conformance::__private::tokio::test(
                    flavor = "multi_thread",
                    worker_threads = 2,
                    crate = "::authstore_conformance::__private::tokio"
                )]
                #ignore
                async fn #test_name() {
                    ::authstore_conformance::__private::run_test(
                        #suite_name,
                        #id,
                        __authstore_claimed(),
                        __authstore_timing(),
                        __authstore_timeout(),
                        #factory,
                    )
                    .await;
                }
            }
        });

    quote! {
        #[cfg(test)]
        mod #name {
            #[allow(unused_imports)]
            use super::*;

            #[allow(dead_code)]
            fn __authstore_claimed() -> ::authstore_conformance::__private::Capabilities {
                #claimed_tokens
            }

            #[allow(dead_code)]
            fn __authstore_timing() -> ::authstore_conformance::__private::TimingProfile {
                #timing
            }

            #[allow(dead_code)]
            fn __authstore_timeout() -> ::std::time::Duration {
                #timeout
            }

            #(#tests)*
        }
    }
}

/// `Capabilities::NONE.with(Capability::X)...` for the claimed set.
fn capabilities_tokens(set: Capabilities) -> TokenStream2 {
    let withs = set.iter().map(|capability| {
        let variant = match capability {
            Capability::Expiry => quote!(Expiry),
            Capability::Concurrency => quote!(Concurrency),
            Capability::LargeValues => quote!(LargeValues),
            Capability::MultiHandle => quote!(MultiHandle),
            Capability::Capacity => quote!(Capacity),
            Capability::Namespaces => quote!(Namespaces),
            Capability::DefaultTtl => quote!(DefaultTtl),
            Capability::ValueLimit => quote!(ValueLimit),
            Capability::Introspection => quote!(Introspection),
            // `Capability` is non-exhaustive: a new one must be taught to this macro.
            other => {
                let message = format!("conformance_suite! does not know capability `{other}`");
                return quote!(.with(::core::compile_error!(#message)));
            }
        };
        quote!(.with(::authstore_conformance::__private::Capability::#variant))
    });
    quote!(::authstore_conformance::__private::Capabilities::NONE #(#withs)*)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> syn::Result<SuiteInput> {
        syn::parse_str(text)
    }

    fn error(text: &str) -> String {
        match parse(text) {
            Ok(_) => panic!("{text} parsed"),
            Err(err) => err.to_string(),
        }
    }

    #[test]
    fn defaults_when_no_option_is_given() {
        let input = parse("mem, async { Store::new() }").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(input.name, "mem");
        assert!(input.capabilities.is_none() && input.timing.is_none() && input.timeout.is_none());
        let expanded = expand(&input).to_string();
        assert!(
            expanded.contains("TimingProfile :: IN_PROCESS"),
            "{expanded}"
        );
        assert!(expanded.contains("DEFAULT_TIMEOUT"), "{expanded}");
    }

    #[test]
    fn options_in_any_order_with_trailing_comma() {
        let input = parse(
            "mem, async { Store::new() }, timeout = Duration::from_secs(5), \
             capabilities = [multi_handle, expiry], timing = PROFILE,",
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let claimed: Vec<Capability> = input
            .capabilities
            .iter()
            .flatten()
            .map(|(c, _)| *c)
            .collect();
        assert_eq!(claimed, [Capability::MultiHandle, Capability::Expiry]);
        assert!(input.timing.is_some() && input.timeout.is_some());
    }

    #[test]
    fn bad_options_are_compile_errors() {
        assert!(error("m, async {}, colour = 1").contains("unknown option `colour`"));
        assert!(error("m, async {}, capabilities = [fast]").contains("unknown capability `fast`"));
        assert!(error("m, async {}, capabilities = [expiry, expiry]").contains("listed twice"));
        assert!(error("m, async {}, timeout = A, timeout = B").contains("given twice"));
        assert!(parse("m").is_err());
    }

    #[test]
    fn one_test_per_scenario_and_unclaimed_ones_are_ignored() {
        let input = parse("mem, async { Store::new() }, capabilities = []")
            .unwrap_or_else(|e| panic!("{e}"));
        let expanded = expand(&input).to_string();
        let catalogue = authstore_scenarios::catalogue();
        assert!(!catalogue.is_empty());
        for scenario in &catalogue {
            assert!(
                expanded.contains(&format!("async fn {} ()", scenario.id)),
                "{}",
                scenario.id
            );
        }
        let needing = catalogue
            .iter()
            .filter(|s| s.needs != Capabilities::NONE)
            .count();
        assert_eq!(expanded.matches("# [ignore =").count(), needing);
        let claimed_all = parse(
            "mem, async { Store::new() }, \
             capabilities = [expiry, concurrency, large_values, multi_handle, capacity, namespaces, \
             default_ttl, value_limit, introspection]",
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert!(!expand(&claimed_all).to_string().contains("# [ignore ="));
    }

    #[test]
    fn ignore_reason_names_the_missing_capabilities() {
        let input = parse("mem, async { Store::new() }").unwrap_or_else(|e| panic!("{e}"));
        let expanded = expand(&input).to_string();
        let multi = authstore_scenarios::catalogue()
            .into_iter()
            .any(|s| s.needs.contains(Capability::MultiHandle));
        assert_eq!(
            expanded.contains(r#"# [ignore = "not claimed: needs multi-handle"]"#),
            multi,
            "{expanded}"
        );
    }
}
