import React from "react";
import ReactDOM from "react-dom/client";

const backend = process.env.REACT_APP_BACKEND_URL;
ReactDOM.createRoot(document.getElementById("root")).render(<p>Cruddur on {backend}</p>);
