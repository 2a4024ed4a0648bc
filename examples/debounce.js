// Call `fn` only after `waitMs` have passed without another call.
// Complete the body of the returned function with
//
//     dglsp complete examples/debounce.js:12:5
export function debounce(fn, waitMs) {
  let timer = null;
  return function debounced(...args) {
    if (timer !== null) {
      clearTimeout(timer);
    }
    timer = setTimeout(() => {
    
    }, waitMs);
  };
}

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
